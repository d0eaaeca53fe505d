"""Ingest: our `load` vs the raw library doing the same work, on both stores.

A generated corpus (default 10,000 scenes: 4 components, 2 archetypes, 2 expressions and one
sub-scene each) is loaded through `scenegraph.load.load_corpus` and through a hand-written
script: for LadybugDB, parse + `COPY FROM` Arrow tables; for Neo4j, parse + batched
`UNWIND … MERGE` with the driver. Each raw run starts from an empty store, like ours.

    python bench/ingest.py [--scenes 10000] [--skip-neo4j]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import _common  # noqa: F401  (puts the project and tests/ on sys.path)
from _common import Result, report, stopwatch

import ladybug
import neo4j
import pyarrow as pa

from scenegraph.load import load_corpus
from scenegraph.graph.schema import CYPHER_DIR, statements
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.graph.neo4j import Neo4jStore

KINDS = ("agent", "field", "act", "tone")


def write_corpus(path: Path, scenes: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    names = [f"имя{i}" for i in range(400)]
    with path.open("w", encoding="utf-8") as out:
        for i in range(scenes):
            record = {
                "id": f"Δ{i}", "title": f"сцена {i}",
                "components": {k: rng.choice(names) for k in KINDS},
                "archetypes": rng.sample([f"архетип{a}" for a in range(40)], 2),
                "parts": [{"id": f"Δ{i}.1", "components": {"act": rng.choice(names)}}],
                "expressions": [{"text": f"выражение {i} {j}", "style": rng.choice(["поэт", "инженер"]),
                                 "form": "text"} for j in range(2)],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def raw_rows(path: Path) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """The same nodes and relationships our loader makes, built by hand."""
    nodes: dict[str, dict] = {lbl: {} for lbl in ("Scene", "Component", "Archetype", "Expression")}
    rels: dict[str, list[dict]] = {t: [] for t in ("HAS", "EVOKES", "CONTAINS", "EXPRESSES")}

    def scene(rec: dict, parent: str | None) -> None:
        nodes["Scene"][rec["id"]] = {"id": rec["id"], "title": rec.get("title")}
        if parent:
            rels["CONTAINS"].append({"src": parent, "dst": rec["id"]})
        for kind, name in rec["components"].items():
            key = f"{kind}:{name}"
            nodes["Component"][key] = {"key": key, "kind": kind, "name": name}
            rels["HAS"].append({"src": rec["id"], "dst": key, "role": kind})
        for name in rec.get("archetypes", []):
            nodes["Archetype"][name] = {"name": name}
            rels["EVOKES"].append({"src": rec["id"], "dst": name})
        for j, expr in enumerate(rec.get("expressions", [])):
            eid = f"{rec['id']}#{j}"
            nodes["Expression"][eid] = {"id": eid, "text": expr["text"], "style": expr["style"],
                                        "form": expr["form"]}
            rels["EXPRESSES"].append({"src": eid, "dst": rec["id"]})
        for part in rec.get("parts", []):
            scene(part, rec["id"])

    for line in path.read_text(encoding="utf-8").splitlines():
        scene(json.loads(line), None)
    return {k: list(v.values()) for k, v in nodes.items()}, rels


def raw_ladybug(path: Path, folder: Path) -> None:
    db = ladybug.Database(str(folder / "raw.lbug"))
    conn = ladybug.Connection(db)
    for statement in statements(CYPHER_DIR / "schema.ladybug.cypher"):
        conn.execute(statement)
    nodes, rels = raw_rows(path)
    for label, rows in nodes.items():
        conn.execute(f"COPY {label}({', '.join(rows[0])}) FROM $t", {"t": pa.Table.from_pylist(rows)})
    for rel_type, rows in rels.items():
        table = pa.Table.from_pylist(rows).rename_columns(["from", "to", *list(rows[0])[2:]])
        conn.execute(f"COPY {rel_type} FROM $t", {"t": table})
    conn.close()
    db.close()


RAW_NEO4J_REL = {"HAS": ("Scene", "id", "Component", "key"), "EVOKES": ("Scene", "id", "Archetype", "name"),
                 "CONTAINS": ("Scene", "id", "Scene", "id"), "EXPRESSES": ("Expression", "id", "Scene", "id")}
RAW_NEO4J_KEY = {"Scene": "id", "Component": "key", "Archetype": "name", "Expression": "id"}


def raw_neo4j(path: Path, driver: neo4j.Driver, batch: int = 10_000) -> None:
    nodes, rels = raw_rows(path)

    def write(tx, query, rows):
        tx.run(query, rows=rows).consume()

    with driver.session(database="neo4j") as session:
        for label, rows in nodes.items():
            key = RAW_NEO4J_KEY[label]
            sets = ", ".join(f"n.{c} = r.{c}" for c in rows[0] if c != key)
            query = f"UNWIND $rows AS r MERGE (n:{label} {{{key}: r.{key}}}) SET {sets}" if sets \
                else f"UNWIND $rows AS r MERGE (n:{label} {{{key}: r.{key}}})"
            for i in range(0, len(rows), batch):
                session.execute_write(write, query, rows[i:i + batch])
        for rel_type, rows in rels.items():
            src, src_key, dst, dst_key = RAW_NEO4J_REL[rel_type]
            query = (f"UNWIND $rows AS r MATCH (a:{src} {{{src_key}: r.src}}) "
                     f"MATCH (b:{dst} {{{dst_key}: r.dst}}) MERGE (a)-[:{rel_type}]->(b)")
            for i in range(0, len(rows), batch):
                session.execute_write(write, query, rows[i:i + batch])


def bench_ladybug(corpus: Path, scenes: int, work: Path, repeat: int) -> Result:
    """Best of ``repeat`` runs each, alternating, after one warm-up load of a small corpus by
    both (imports, caches and first-use setup are not what a large load pays per scene)."""
    warm = work / "warm.jsonl"
    write_corpus(warm, 200, seed=2)
    ours_s, raw_s = [], []
    for run in range(repeat + 1):
        source = warm if run == 0 else corpus
        with stopwatch() as ours:
            store = LadybugStore(work / f"ours{run}")
            load_corpus(store, [source])
            store.close()
        (work / f"raw{run}").mkdir()
        with stopwatch() as raw:
            raw_ladybug(source, work / f"raw{run}")
        if run:
            ours_s.append(ours[0])
            raw_s.append(raw[0])
    best_ours, best_raw = min(ours_s), min(raw_s)
    return Result("ingest embedded (scenes/s)", scenes / best_ours, scenes / best_raw, "scenes/s",
                  0.5, note=f"ours {best_ours:.2f}s, raw COPY {best_raw:.2f}s (best of {repeat})")


def bench_neo4j(corpus: Path, scenes: int, repeat: int) -> Result:
    """Best of ``repeat`` loads each, alternating, into an emptied database, after one warm-up
    load by ours (the server's caches and query plans): one run of each swung the ratio by
    ±25% as the server's JIT and the machine's other work came and went."""
    from neo4j_server import Neo4jServer

    with Neo4jServer(password="bench-password") as server:
        driver = neo4j.GraphDatabase.driver(server.uri, auth=server.auth)
        store = Neo4jStore(server.uri, user=server.user, password=server.password)
        store.init_schema()

        def empty():
            with driver.session(database="neo4j") as session:  # an implicit transaction
                session.run("MATCH (n) CALL (n) { DETACH DELETE n } "
                            "IN TRANSACTIONS OF 10000 ROWS").consume()

        load_corpus(store, [corpus])
        ours_s, raw_s = [], []
        for _ in range(repeat):
            empty()
            with stopwatch() as ours:
                load_corpus(store, [corpus])
            empty()
            with stopwatch() as raw:
                raw_neo4j(corpus, driver)
            ours_s.append(ours[0])
            raw_s.append(raw[0])
        store.close()
        driver.close()
    best_ours, best_raw = min(ours_s), min(raw_s)
    return Result("ingest neo4j (scenes/s)", scenes / best_ours, scenes / best_raw, "scenes/s",
                  0.8, note=f"ours {best_ours:.2f}s, raw UNWIND {best_raw:.2f}s (best of {repeat})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--skip-neo4j", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each per store, best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus.jsonl"
        write_corpus(corpus, args.scenes)
        results = [bench_ladybug(corpus, args.scenes, work, args.repeat)]
        if not args.skip_neo4j:
            results.append(bench_neo4j(corpus, args.scenes, args.repeat))
    report(results)


if __name__ == "__main__":
    main()

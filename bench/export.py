"""Export: our `export` to OpenAI JSONL vs raw `orjson` writing the same records, same run.

Setup: a synthetic embedded store of N expressions (default 1,000,000; ten per scene, scenes in
trees of five, four components, two archetypes and a hyperlexeme each), written with LadybugDB's
`COPY FROM` Arrow tables. Then, each in a fresh process so its peak memory is its own:

- ours: `export_dataset` with forward pairs in the OpenAI format: selection, fractal-tree
  splits, filters, three split files, manifest with SHA-256 of every file, card, registry.
- raw: the floor any exporter pays: the same rows read with plain queries on a LadybugDB
  connection (pages of consecutive scene ids, the query shape LadybugDB runs fastest), rendered
  with the same prompt functions, one `orjson.dumps` per line into one file.

Both must hold the same lines (checked by an order-independent digest). Printed: pairs/s of
each (best of --repeat runs), the ratio ours/raw (target ≥ 0.9), the same ratio in CPU time
(steadier on a shared machine), and each process's own peak RSS (target ≤ 1 GiB).

    .venv/bin/python bench/export.py                    # 1,000,000 pairs
    .venv/bin/python bench/export.py --pairs 100000 --repeat 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Result, peak_rss_mb, report, stopwatch

import ladybug
import orjson
import pyarrow as pa

from scenegraph.export import ExportOptions, export_dataset
from scenegraph.export.rows import INSTRUCTION, SYSTEM, scene_block, voice
from scenegraph.export.selection import CHUNK_SCENES
from scenegraph.graph.export import ComponentRef, ExpressionRow, SceneView
from scenegraph.hyperlexeme import compose
from scenegraph.models import Component, Scene
from scenegraph.graph.schema import CYPHER_DIR, statements
from scenegraph.graph.ladybug import DB_FILE, LadybugStore

TREE = 5  # a root and four sub-scenes
STYLES = ["философ", "инженер", "ребёнок", "поэт", "архитектор", "логик", "тело"]
REGISTERS = ["logic", "poetry", "rhythm", "body", "silence"]
TONES = [None, None, None, "медитативно", "с тревогой"]
FORMS = ["text", "text", "text", "symbolic", "colour"]
NAMES = {"agent": ["тело", "рука", "голос", "старик", "путник", "ребёнок", "сердце", "взгляд"],
         "field": ["тишина", "море", "дверь", "лес", "город", "ночь", "дом", "поле", "мост"],
         "act": ["шаг", "вдох", "зов", "поиск", "касание", "ожидание", "вход", "остановка"],
         "tone": ["тревога", "покой", "нежность", "жар", "печаль", "ясность", "восторг"]}
ARCHETYPES = ["переход", "порог", "инициация", "встреча", "утрата", "возвращение", "путь"]
PAGE_SCENES = CHUNK_SCENES


# -- setup --------------------------------------------------------------------------------


def scene_components(i: int) -> dict[str, str]:
    return {kind: names[(i * (k + 3) + k) % len(names)]
            for k, (kind, names) in enumerate(NAMES.items())}


def build_store(folder: Path, pairs: int, per_scene: int) -> int:
    """Write the synthetic graph with COPY FROM Arrow tables; returns the number of scenes."""
    scenes = -(-pairs // per_scene)
    folder.mkdir(parents=True)
    db = ladybug.Database(str(folder / DB_FILE))
    conn = ladybug.Connection(db)
    for statement in statements(CYPHER_DIR / "schema.ladybug.cypher"):
        conn.execute(statement)
    for table, columns in graph_tables(scenes, pairs, per_scene):
        conn.execute(f"COPY {table} FROM $rows", {"rows": pa.table(columns)})
    conn.close()
    db.close()
    return scenes


def graph_tables(scenes: int, pairs: int, per_scene: int):
    """(table, columns) in COPY order: every node table, then relationships (keys first)."""
    ids = [f"S{i:07d}" for i in range(scenes)]
    roots = [ids[i - i % TREE] for i in range(scenes)]
    comps = [scene_components(i) for i in range(scenes)]
    fused = [compose(Scene(id=ids[i], components=[Component(kind=k, name=n)
                                                  for k, n in comps[i].items()]))
             for i in range(scenes)]
    yield "Scene", {
        "id": ids, "title": [f"Сцена {i}" for i in range(scenes)],
        "text": [f"{c['agent']} у края: {c['field']}, {c['act']}, {c['tone']}." for c in comps],
        "lang": ["ru"] * scenes, "depth": [0 if i % TREE == 0 else 1 for i in range(scenes)],
        "root": roots, "content_hash": [f"h{i}" for i in range(scenes)], "props": [None] * scenes}
    keys = sorted({f"{k}:{n}" for k, names in NAMES.items() for n in names})
    yield "Component", {"key": keys, "kind": [k.split(":")[0] for k in keys],
                        "name": [k.split(":", 1)[1] for k in keys]}
    yield "Archetype", {"name": ARCHETYPES}
    forms = sorted(set(fused))
    yield "Hyperlexeme", {"form": forms, "kind": ["fused"] * len(forms)}
    yield "Expression", expression_columns(ids, pairs, per_scene)
    yield "HAS", {"from": [s for s in ids for _ in NAMES],
                  "to": [f"{k}:{n}" for c in comps for k, n in c.items()],
                  "role": [k for _ in ids for k in NAMES]}
    yield "EVOKES", {"from": [s for s in ids for _ in range(2)],
                     "to": [ARCHETYPES[(i + j * 3) % len(ARCHETYPES)]
                            for i in range(scenes) for j in range(2)]}
    children = [i for i in range(scenes) if i % TREE]
    yield "CONTAINS", {"from": [roots[i] for i in children], "to": [ids[i] for i in children]}
    yield "NAMES", {"from": fused, "to": ids}
    yield "EXPRESSES", {"from": [f"x{n:08d}" for n in range(pairs)],
                        "to": [ids[n // per_scene] for n in range(pairs)]}


def expression_columns(ids: list[str], pairs: int, per_scene: int) -> dict[str, list]:
    def text(n: int) -> str:
        return (f"Он стоит у края, и {NAMES['field'][n % 9]} отвечает ему {n % 97}-м ударом "
                f"сердца — {NAMES['act'][n % 8]} уже начался.")

    return {"id": [f"x{n:08d}" for n in range(pairs)], "text": [text(n) for n in range(pairs)],
            "form": [FORMS[n % 5] for n in range(pairs)], "style": [STYLES[n % 7] for n in range(pairs)],
            "register": [REGISTERS[n % 5] for n in range(pairs)],
            "tone": [TONES[n // 7 % 5] for n in range(pairs)],
            "target": ["человек" if n % 3 == 0 else None for n in range(pairs)],
            "lang": ["ru"] * pairs,
            "provenance": [f'{{"model":"synthetic","n":{n},"source":"bench"}}' for n in range(pairs)],
            "props": [None] * pairs, "quality": [None] * pairs, "passed": [None] * pairs,
            "status": ["active"] * pairs}


# -- the two exporters (each runs in its own process) ---------------------------------------


def run_ours(store_dir: Path, out: Path) -> list[Path]:
    store = LadybugStore(store_dir, read_only=True)
    manifest = export_dataset(store, out, ExportOptions(formats=["openai"], directions=["forward"]))
    store.close()
    return [out / entry.path for entry in manifest.outputs]


def run_raw(store_dir: Path, out: Path) -> list[Path]:
    """Plain queries, the same prompt functions, orjson into one file."""
    db = ladybug.Database(str(store_dir / DB_FILE), read_only=True)
    conn = ladybug.Connection(db)
    ids = [row[0] for row in conn.execute("MATCH (s:Scene) RETURN s.id ORDER BY s.id").get_all()]
    out.mkdir(parents=True)
    path = out / "all.jsonl"
    with path.open("wb") as handle:
        for start in range(0, len(ids), PAGE_SCENES):
            page = ids[start:start + PAGE_SCENES]
            views = raw_views(conn, page)
            handle.write(b"".join(raw_lines(conn, page, views)))
    conn.close()
    db.close()
    return [path]


def rows(conn, query: str, page: list[str]) -> list[list]:
    """``query`` with ``s`` bound to the scenes of the page (a range of consecutive ids)."""
    return conn.execute("MATCH (s:Scene) WHERE s.id >= $first AND s.id <= $last " + query,
                        {"first": page[0], "last": page[-1]}).get_all()


def raw_views(conn, page: list[str]) -> dict[str, SceneView]:
    views = {sid: SceneView(sid, title, text)
             for sid, title, text in rows(conn, "RETURN s.id, s.title, s.text", page)}
    for sid, kind, name in rows(conn, "MATCH (s)-[:HAS]->(c:Component) RETURN s.id, c.kind, c.name",
                                page):
        views[sid].components.append(ComponentRef(kind, name))
    for field, query in (("archetypes", "MATCH (s)-[:EVOKES]->(a:Archetype) RETURN s.id, a.name"),
                         ("hyperlexemes", "MATCH (h:Hyperlexeme)-[:NAMES]->(s) RETURN s.id, h.form")):
        for sid, value in rows(conn, query, page):
            getattr(views[sid], field).append(value)
    for sid, pid, title in rows(conn, "MATCH (p:Scene)-[:CONTAINS]->(s) RETURN s.id, p.id, p.title",
                                page):
        views[sid].parent = (pid, title)
    for sid, cid, title in rows(conn, "MATCH (s)-[:CONTAINS]->(c:Scene) RETURN s.id, c.id, c.title",
                                page):
        views[sid].children.append((cid, title))
    for view in views.values():
        view.components.sort()
        view.archetypes.sort()
        view.children.sort()
    return views


def raw_lines(conn, page: list[str], views: dict[str, SceneView]) -> list[bytes]:
    blocks = {sid: scene_block(view) for sid, view in views.items()}
    lines = []
    for status, passed, sid, eid, text, form, style, register, tone, target in rows(
            conn, "MATCH (e:Expression)-[:EXPRESSES]->(s) RETURN e.status, e.passed, s.id, e.id, "
                  "e.text, e.form, e.style, e.register, e.tone, e.target", page):
        if status == "superseded" or passed is False:  # the same rule as ours
            continue
        expr = ExpressionRow(eid, text, form, style, register, tone, target, None, {}, {}, None,
                             None, [sid])
        messages = [{"role": "system", "content": SYSTEM["forward"]},
                    {"role": "user", "content": INSTRUCTION["forward"].format(voice=voice(expr))
                     + "\n\n" + blocks[sid]},
                    {"role": "assistant", "content": text}]
        lines.append(orjson.dumps({"messages": messages}, option=orjson.OPT_APPEND_NEWLINE))
    return lines


def child(which: str, store_dir: Path, out: Path) -> None:
    cpu = time.process_time()
    with stopwatch() as elapsed:
        files = (run_ours if which == "ours" else run_raw)(store_dir, out)
    print(json.dumps({"seconds": elapsed[0], "cpu_seconds": time.process_time() - cpu,
                      "peak_rss_mb": peak_rss_mb(), "files": [str(f) for f in files]}))


def measure(which: str, store_dir: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, __file__, "--child", which, str(store_dir), str(out)],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {which} exporter failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def digest(files: list[str]) -> tuple[int, int]:
    """(lines, sum of line hashes): the same for the same lines in any order or file split."""
    count, total = 0, 0
    for name in files:
        with open(name, "rb") as handle:
            for line in handle:
                count += 1
                total = (total + int.from_bytes(hashlib.sha256(line).digest()[:8], "big")) % 2**64
    return count, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--per-scene", type=int, default=10, help="expressions per scene")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, best kept")
    parser.add_argument("--child", nargs=3, metavar=("WHICH", "STORE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        folder = Path(tmp)
        with stopwatch() as setup:
            scenes = build_store(folder / "store", args.pairs, args.per_scene)
        print(f"setup: {args.pairs:,} expressions on {scenes:,} scenes in {setup[0]:.1f} s")
        runs: dict[str, list[dict]] = {"ours": [], "raw": []}
        for _ in range(args.repeat):
            for which in runs:
                runs[which].append(measure(which, folder / "store", folder / which))
                run = runs[which][-1]
                print(f"{which}: {run['seconds']:.1f} s wall, {run['cpu_seconds']:.1f} s CPU, "
                      f"peak RSS {run['peak_rss_mb']:.0f} MiB")
        same = digest(runs["ours"][-1]["files"]) == digest(runs["raw"][-1]["files"])
        ours, raw = (min(runs[w], key=lambda r: r["seconds"]) for w in ("ours", "raw"))
    cpu_ratio = raw["cpu_seconds"] / ours["cpu_seconds"]
    note = f"same lines: {'yes' if same else 'NO'}; CPU-time ratio {cpu_ratio:.2f}"
    report([
        Result("export openai jsonl (pairs/s)", args.pairs / ours["seconds"],
               args.pairs / raw["seconds"], "pairs/s", 0.9, note=note),
        Result("export peak RSS (MiB, ours vs 1 GiB)", ours["peak_rss_mb"], 1024, "MiB", 1.0,
               higher_is_better=False, note=f"raw exporter's peak: {raw['peak_rss_mb']:.0f} MiB"),
    ])


if __name__ == "__main__":
    main()

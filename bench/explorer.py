"""Explorer: API latency at 100,000 scenes, and the time to draw a 2,000-node neighbourhood.

Setup: a synthetic embedded store (default 100,000 scenes; three expressions, four components
and two of 40 archetypes each; trees of fan-out 10 (depth 4 at 100k); a LEADS_TO edge from
every seventh scene; three RESONATES edges from every tenth; a hyperlexeme per fifth scene),
written with LadybugDB's `COPY FROM` Arrow tables, then served by a real `scenegraph serve`
process on loopback.

- scene detail: `GET /api/scene` for random scenes (everything the side panel shows), timed
  from the client; raw: one Cypher round trip on an in-process LadybugDB connection reading the
  scene and every node around it.
- expansion: `GET /api/expand` (graph hops, the page's default limit of 100) for random scenes;
  raw: the same neighbours in one untyped Cypher pattern on that connection.
- canvas: in headless Chromium, the page expands an archetype with the limit at 2,000: from the
  request to the first frame drawn with the new nodes (fetch, JSON, placement, Cytoscape draw);
  raw: bare Cytoscape.js drawing the same 2,000 nodes and edges at preset positions.

Targets (issue 8): p95 <= 100 ms for detail and expansion; 2,000 nodes drawn in <= 2 s.

    .venv/bin/python bench/explorer.py                  # 100,000 scenes
    .venv/bin/python bench/explorer.py --scenes 20000 --requests 100
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the project and tests/ on sys.path)
from _common import ROOT, Result, report, stopwatch

import httpx
import ladybug
import pyarrow as pa

from scenegraph.graph.schema import CYPHER_DIR, statements
from scenegraph.graph.ladybug import DB_FILE
from web_server import ExplorerServer, launch_chromium

KINDS = ("agent", "field", "act", "tone")
NAMES_PER_KIND = 250
ARCHETYPES = [f"archetype-{n:02d}" for n in range(40)]
EXPRESSIONS_PER_SCENE = 3
FAN_OUT = 10
STYLES = ["poet", "engineer", "child", "philosopher", "architect"]
REGISTERS = ["logic", "poetry", "rhythm"]
CANVAS_NODES = 2_000
CYTOSCAPE = ROOT / "web" / "node_modules" / "cytoscape" / "dist" / "cytoscape.min.js"


# -- setup --------------------------------------------------------------------------------

def scene_id(i: int) -> str:
    return f"Δb{i}"


def build_store(folder: Path, scenes: int) -> None:
    """The synthetic graph, written with COPY FROM Arrow tables."""
    folder.mkdir(parents=True)
    db = ladybug.Database(str(folder / DB_FILE))
    conn = ladybug.Connection(db)
    for statement in statements(CYPHER_DIR / "schema.ladybug.cypher"):
        conn.execute(statement)
    for table, columns in graph_tables(scenes):
        conn.execute(f"COPY {table} FROM $rows", {"rows": pa.table(columns)})
    conn.close()
    db.close()


def component(i: int, k: int) -> str:
    return f"{KINDS[k]}:{KINDS[k]}-{(i * (k + 7) + k) % NAMES_PER_KIND}"


def graph_tables(scenes: int):
    """(table, columns) in COPY order: node tables, then relationships (endpoint keys first)."""
    ids = [scene_id(i) for i in range(scenes)]
    parent = [None if i < FAN_OUT else (i // FAN_OUT) - 1 for i in range(scenes)]
    depth, root = [0] * scenes, list(range(scenes))
    for i in range(scenes):
        if parent[i] is not None:
            depth[i], root[i] = depth[parent[i]] + 1, root[parent[i]]
    yield "Scene", {
        "id": ids, "title": [f"Scene {i}" for i in range(scenes)],
        "text": [f"Someone at the edge of place {i % 997} waits for the {i % 13}th sound."
                 for i in range(scenes)],
        "lang": ["en"] * scenes, "depth": depth, "root": [ids[r] for r in root],
        "content_hash": [f"h{i}" for i in range(scenes)], "props": [None] * scenes}
    keys = sorted({component(i, k) for i in range(NAMES_PER_KIND * 4) for k in range(4)})
    yield "Component", {"key": keys, "kind": [k.split(":")[0] for k in keys],
                        "name": [k.split(":", 1)[1] for k in keys]}
    yield "Archetype", {"name": ARCHETYPES}
    named = list(range(0, scenes, 5))
    yield "Hyperlexeme", {"form": [f"form{i}" for i in named], "kind": ["fused"] * len(named)}
    count = scenes * EXPRESSIONS_PER_SCENE
    yield "Expression", {
        "id": [f"x{n}" for n in range(count)],
        "text": [f"A line that says scene {n // EXPRESSIONS_PER_SCENE} in voice {n % 5}."
                 for n in range(count)],
        "form": ["text"] * count, "style": [STYLES[n % 5] for n in range(count)],
        "register": [REGISTERS[n % 3] for n in range(count)], "tone": [None] * count,
        "target": [None] * count, "lang": ["en"] * count,
        "provenance": ['{"source":"bench"}'] * count, "props": [None] * count,
        "quality": [None] * count, "passed": [None] * count, "status": ["active"] * count}
    yield "HAS", {"from": [s for s in ids for _ in KINDS],
                  "to": [component(i, k) for i in range(scenes) for k in range(4)],
                  "role": [kind for _ in ids for kind in KINDS]}
    yield "EVOKES", {"from": [s for s in ids for _ in range(2)],
                     "to": [ARCHETYPES[(i * (j + 1) + j * 17) % len(ARCHETYPES)]
                            for i in range(scenes) for j in range(2)]}
    children = [i for i in range(scenes) if parent[i] is not None]
    yield "CONTAINS", {"from": [ids[parent[i]] for i in children], "to": [ids[i] for i in children]}
    leads = [i for i in range(0, scenes - 1, 7)]
    yield "LEADS_TO", {"from": [ids[i] for i in leads], "to": [ids[i + 1] for i in leads]}
    pairs = [(i, (i + step * 101) % scenes) for i in range(0, scenes, 10) for step in (1, 2, 3)]
    yield "RESONATES", {"from": [ids[a] for a, _ in pairs], "to": [ids[b] for _, b in pairs],
                        "score": [0.9 - 0.1 * (n % 3) for n in range(len(pairs))]}
    yield "NAMES", {"from": [f"form{i}" for i in named], "to": [ids[i] for i in named]}
    yield "EXPRESSES", {"from": [f"x{n}" for n in range(count)],
                        "to": [ids[n // EXPRESSIONS_PER_SCENE] for n in range(count)]}


# -- measuring --------------------------------------------------------------------------------

def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds of samples in seconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def time_each(call, items) -> list[float]:
    out = []
    for item in items:
        with stopwatch() as elapsed:
            call(item)
        out.append(elapsed[0])
    return out


def api_latency(server: ExplorerServer, ids: list[str]) -> dict[str, list[float]]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        def get(path: str, **params) -> None:
            client.get(path, params=params).raise_for_status()

        for sid in ids[:20]:  # warm the caches and the connection first
            get("/api/scene", id=sid)
            get("/api/expand", label="Scene", key=sid)
        return {"detail": time_each(lambda s: get("/api/scene", id=s), ids),
                "expand": time_each(lambda s: get("/api/expand", label="Scene", key=s), ids)}


def raw_latency(folder: Path, ids: list[str]) -> dict[str, list[float]]:
    db = ladybug.Database(str(folder / DB_FILE), read_only=True)
    conn = ladybug.Connection(db)

    def detail(sid: str) -> None:
        conn.execute("MATCH (s:Scene {id: $id}) OPTIONAL MATCH (s)-[r]-(n) RETURN s, r, n",
                     {"id": sid}).get_all()

    def expand(sid: str) -> None:
        conn.execute("MATCH (s:Scene {id: $id})-[r]-(n) WHERE label(n) <> 'Expression' "
                     "RETURN label(r), n LIMIT 101", {"id": sid}).get_all()

    for sid in ids[:20]:
        detail(sid)
        expand(sid)
    out = {"detail": time_each(detail, ids), "expand": time_each(expand, ids)}
    conn.close()
    db.close()
    return out


def canvas_draw(server: ExplorerServer, hub: str, repeat: int) -> tuple[list[float], list[float]]:
    """Seconds until the page, then bare Cytoscape.js, has drawn the hub's 2,000 neighbours."""
    from playwright.sync_api import sync_playwright

    graph = httpx.get(server.url("/api/expand"), timeout=60,
                      params={"label": "Archetype", "key": hub, "limit": CANVAS_NODES}).json()
    assert len(graph["nodes"]) == CANVAS_NODES, len(graph["nodes"])
    ours, raw = [], []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.url("/"))
        page.wait_for_selector("body[data-ready=true]")
        page.select_option("#expand-limit", str(CANVAS_NODES))
        for _ in range(repeat):
            page.click("#clear")
            timing = page.evaluate("hub => explorer.expand('Archetype', hub)", hub)
            assert timing["nodes"] == CANVAS_NODES + 1, timing
            ours.append(timing["ms"] / 1000)
        bare = browser.new_page(viewport={"width": 1280, "height": 800})
        bare.set_content('<div id="cy" style="width:900px;height:715px"></div>')
        bare.add_script_tag(path=str(CYTOSCAPE))
        for _ in range(repeat):
            raw.append(bare.evaluate(BARE_CYTOSCAPE, graph) / 1000)
        browser.close()
    return ours, raw


# Bare Cytoscape.js: the same elements on a grid of preset positions, default style; resolves
# with the milliseconds until the frame after the first render.
BARE_CYTOSCAPE = """graph => new Promise(resolve => {
  const started = performance.now();
  const side = Math.ceil(Math.sqrt(graph.nodes.length));
  const elements = [
    ...graph.nodes.map((n, i) => ({group: 'nodes', data: {id: n.id, label: n.caption},
                                   position: {x: (i % side) * 40, y: Math.floor(i / side) * 40}})),
    {group: 'nodes', data: {id: graph.edges[0].target}, position: {x: -200, y: -200}},
    ...graph.edges.map(e => ({group: 'edges', data: {id: e.id, source: e.source, target: e.target}})),
  ];
  document.getElementById('cy').replaceChildren();
  const cy = cytoscape({container: document.getElementById('cy'), elements, layout: {name: 'preset'},
                        style: [{selector: 'node', style: {label: 'data(label)'}}]});
  cy.one('render', () => requestAnimationFrame(() => { resolve(performance.now() - started); cy.destroy(); }));
})"""


# -- main -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300, help="Requests per endpoint.")
    parser.add_argument("--draws", type=int, default=5, help="2,000-node draws timed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scenegraph-bench-explorer-") as tmp:
        folder = Path(tmp) / "store"
        with stopwatch() as built:
            build_store(folder, args.scenes)
        print(f"store of {args.scenes:,} scenes written with COPY FROM in {built[0]:.1f} s")
        ids = [scene_id(i) for i in random.Random(8).sample(range(args.scenes), args.requests)]
        with ExplorerServer(folder) as server:
            started = time.perf_counter()
            ours = api_latency(server, ids)
            print(f"API timed in {time.perf_counter() - started:.1f} s")
            raw = raw_latency(folder, ids)
            draw_ours, draw_raw = canvas_draw(server, ARCHETYPES[0], args.draws)
    results = []
    for name, label in (("detail", "scene detail"), ("expand", "expansion (limit 100)")):
        p50, p95 = percentiles(ours[name])
        raw50, raw95 = percentiles(raw[name])
        note = f"p50 {p50:.1f} ms; raw Cypher p50 {raw50:.1f} / p95 {raw95:.1f} ms"
        results.append(Result(f"explorer {label} p95 at {args.scenes:,} scenes (ms, vs 100 ms)",
                              p95, 100, "ms", 1.0, higher_is_better=False, note=note))
        results.append(Result(f"explorer {label} p50, ours vs raw Cypher (ms)", p50, raw50, "ms",
                              10.0, higher_is_better=False))
    draw = statistics.median(draw_ours) * 1000
    bare = statistics.median(draw_raw) * 1000
    results.append(Result(f"explorer {CANVAS_NODES:,}-node neighbourhood drawn (ms, vs 2 s)",
                          draw, 2000, "ms", 1.0, higher_is_better=False,
                          note=f"median of {args.draws}; bare Cytoscape.js {bare:.0f} ms "
                               f"(ours/bare {draw / bare:.2f})"))
    report(results)


if __name__ == "__main__":
    main()

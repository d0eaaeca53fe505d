"""The scale scenario: the whole path on N synthetic scenes, each stage timed and its memory taken.

Stages, each with the real library function on one store (embedded by default, Neo4j with
``--neo4j``, a server in a child JVM started by tests/neo4j_server.py):

- synth: ``bench/synth.py`` writes N scenes (fractal trees, Russian and English);
- load: ``load_corpus``;
- embed: scene vectors. With ``--embed-limit`` below N (a 2-core CPU embeds ~25–200 texts/s)
  only the first K scene texts are embedded with ``vectors.embed_items`` (no index written);
  otherwise ``embed_store(kinds=["scene"])`` builds the scene index. The raw baseline is
  ``Embedder.embed`` on the same texts in one call;
- generate: the offline template provider, ``--per-scene`` expressions per scene
  (styles × registers);
- export: ``export_dataset`` in every direction (forward, reverse, transfer), ``--formats``;
- check: ``run_checks`` embeds every expression, so at scale it runs on a sample store of the
  first ``--check-scenes`` scenes of the same corpus (loaded and generated untimed), last.

Per stage: wall time, this process's peak RSS within the stage (VmHWM, reset before each stage)
and the peak RSS of child processes (sampled; the Neo4j JVM). ``BENCH`` lines: one per stage in
seconds — against its raw baseline where one exists (embed), else against the issue's budget of
60 minutes for 100,000 scenes scaled to N (stated in the note) — plus the total and the peak.

    .venv/bin/python bench/scale.py --scenes 10000 --per-scene 10
    .venv/bin/python bench/scale.py --scenes 100000 --embed-limit 2000 --check-scenes 200
    .venv/bin/python bench/scale.py --scenes 10000 --neo4j
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import psutil

from _common import (Result, peak_rss_mb, report,  # first: it puts the repo and tests/ on sys.path
                     reset_peak_rss)
from synth import write_corpus

from scenegraph.embedding import default_embedder
from scenegraph.export import ExportOptions, export_dataset
from scenegraph.export.options import DIRECTIONS, FORMATS
from scenegraph.generation import GenerateOptions, generate, load_config
from scenegraph.load import load_corpus
from scenegraph.quality.options import CheckOptions
from scenegraph.quality.run import run_checks
from scenegraph.graph import open_store
from scenegraph.graph.base import Store
from scenegraph.vectors import DEFAULT_BATCH_SIZE, embed_items, embed_store, scene_items

BUDGET_S_PER_SCENE = 3600 / 100_000  # the issue: 100k scenes → 1M pairs within 60 minutes
BUDGET_RSS_MB = 8 * 1024             # … with peak RSS under 8 GB
EMBED_TARGET = 1.25                  # ours / raw seconds (bench/embed.py's 0.9 throughput bar)
REGISTER_CHOICES = (2, 1, 3, 4, 5)   # how many registers to pair with the styles, preferred first


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    rss_mb: float = 0.0        # this process, peak within the stage
    child_rss_mb: float = 0.0  # child processes together, sampled peak
    detail: str = ""
    raw_s: float | None = None  # the raw baseline's seconds, where one exists


class ChildSampler:
    """Samples the summed RSS of this process's children (the Neo4j JVM, workers) in a thread."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s, self.peak_mb = interval_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.interval_s):
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def __enter__(self) -> ChildSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def measured(stages: list[Stage], name: str) -> Iterator[Stage]:
    """Time a stage and take its peak memory; the stage is printed as soon as it ends."""
    stage = Stage(name)
    reset_peak_rss()
    print(f"… {name}", flush=True)
    with ChildSampler() as children:
        start = time.perf_counter()
        yield stage
        stage.seconds = time.perf_counter() - start
    stage.rss_mb, stage.child_rss_mb = peak_rss_mb(), children.peak_mb
    stages.append(stage)
    print(f"  {name}: {stage.seconds:.1f}s, peak RSS {stage.rss_mb:.0f} MiB "
          f"(+{stage.child_rss_mb:.0f} MiB children)  {stage.detail}", flush=True)


# -- stages ---------------------------------------------------------------------------------


def voices(per_scene: int) -> tuple[list[str], list[str]]:
    """Styles × registers from the bundled config that make ``per_scene`` expressions."""
    config = load_config()
    styles = [v.name for v in config.pick("styles", ["all"])]
    registers = [v.name for v in config.pick("registers", ["all"])]
    for count in REGISTER_CHOICES:  # two styles at least where possible: transfer pairs need them
        if count <= len(registers) and per_scene % count == 0 \
                and min(2, per_scene) <= per_scene // count <= len(styles):
            return styles[:per_scene // count], registers[:count]
    raise SystemExit(f"--per-scene {per_scene} is not styles × registers with at most "
                     f"{len(styles)} styles and {len(registers)} registers")


def generate_options(per_scene: int) -> GenerateOptions:
    styles, registers = voices(per_scene)
    return GenerateOptions(provider="template", styles=styles, registers=registers,
                           neighbours=0, concurrency=8)


def embed_stage(store: Store, limit: int | None, stages: list[Stage]) -> None:
    """The scene index when every scene is embedded; the first ``limit`` texts otherwise.
    The model is loaded before the stage; the raw baseline (``Embedder.embed`` on the same
    texts) runs after it, timed apart."""
    started = time.perf_counter()
    embedder = default_embedder()
    embedder.embed(["warm-up"], 1)
    loaded_s = time.perf_counter() - started
    with measured(stages, "embed") as stage:
        items = scene_items(store)
        if limit is None or limit >= len(items):
            embedded = embed_store(store, embedder, kinds=["scene"])
            stage.detail = f"embed_store: all {embedded.kinds[0].total} scenes, index written"
        else:
            items = items[:limit]
            embed_items(embedder, items, DEFAULT_BATCH_SIZE)
            stage.detail = f"embed_items: first {limit} scene texts, no index written"
        stage.detail += f" (model loaded before, {loaded_s:.1f}s)"
    start = time.perf_counter()
    embedder.embed([item.text for item in items], DEFAULT_BATCH_SIZE)
    stage.raw_s = time.perf_counter() - start


def check_stage(corpus: Path, workdir: Path, scenes: int, per_scene: int,
                stages: list[Stage], opener: Callable[[Path], Store]) -> None:
    """``run_checks`` on a store of the corpus's first ``scenes`` scenes (the rest untimed)."""
    sample = workdir / "check-sample.jsonl"
    write_corpus(sample, scenes, seed_of(corpus))
    with opener(workdir / "check-store") as store:
        load_corpus(store, [sample])
        generate(store, generate_options(per_scene))
        with measured(stages, "check") as stage:
            checked = run_checks(store, CheckOptions())
            stage.detail = (f"run_checks on a {scenes}-scene sample: "
                            f"{checked.checked} expressions checked, {checked.passed} passed "
                            f"(scenes and expressions embedded)")


def seed_of(corpus: Path) -> int:
    return int(corpus.stem.rsplit("-", 1)[1])


def run_path(args, workdir: Path, opener: Callable[[Path], Store]) -> list[Stage]:
    stages: list[Stage] = []
    corpus = workdir / f"corpus-{args.seed}.jsonl"
    with measured(stages, "synth") as stage:
        trees = write_corpus(corpus, args.scenes, args.seed)
        stage.detail = f"{args.scenes} scenes in {trees} trees"
    with opener(workdir / "store") as store:
        with measured(stages, "load") as stage:
            loaded = load_corpus(store, [corpus])
            stage.detail = f"{loaded.scenes} scenes"
        if args.embed_limit != 0:
            embed_stage(store, args.embed_limit, stages)
        with measured(stages, "generate") as stage:
            made = generate(store, generate_options(args.per_scene))
            stage.detail = f"{made.generated} expressions ({made.failed} failed)"
        with measured(stages, "export") as stage:
            manifest = export_dataset(store, workdir / "export", ExportOptions(
                directions=list(DIRECTIONS), formats=args.formats))
            stage.detail = (f"{manifest.counts.pairs} pairs "
                            f"({manifest.counts.by_direction}), {', '.join(args.formats)}")
    if args.check_scenes:  # last: on Neo4j the sample store is the same database, emptied
        check_stage(corpus, workdir, min(args.check_scenes, args.scenes), args.per_scene,
                    stages, opener)
    return stages


# -- stores ---------------------------------------------------------------------------------


def embedded_opener(folder: Path) -> Store:
    store = open_store(str(folder))
    store.init_schema()
    return store


@contextlib.contextmanager
def neo4j_opener_factory(workdir: Path) -> Iterator[Callable[[Path], Store]]:
    """A Neo4j server in a child JVM; each opener call empties its database first."""
    from neo4j_server import Neo4jServer

    os.environ["SCENEGRAPH_HOME"] = str(workdir / "home")  # the Neo4j store's index folder
    with Neo4jServer(password="scenegraph-bench") as server:
        os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"] = server.auth

        def opener(_folder: Path) -> Store:
            store = open_store(server.uri)
            store.run("MATCH (n) DETACH DELETE n", write=True)
            store.init_schema()
            return store

        yield opener


# -- report ---------------------------------------------------------------------------------


def print_stages(stages: list[Stage]) -> None:
    print(f"\n{'stage':<9} {'seconds':>9} {'peak RSS MiB':>13} {'children MiB':>13}  detail")
    for s in stages:
        print(f"{s.name:<9} {s.seconds:>9.1f} {s.rss_mb:>13.0f} {s.child_rss_mb:>13.0f}  "
              f"{s.detail}")
    print(f"{'total':<9} {sum(s.seconds for s in stages):>9.1f} "
          f"{max(s.rss_mb + s.child_rss_mb for s in stages):>13.0f}\n")


def results(stages: list[Stage], args, store_name: str) -> list[Result]:
    budget = BUDGET_S_PER_SCENE * args.scenes
    load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    prefix = f"scale {store_name} {args.scenes} scenes"
    rows = []
    for s in stages:
        if s.raw_s is not None:
            rows.append(Result(f"{prefix}: {s.name}", s.seconds, s.raw_s, "s", EMBED_TARGET,
                               higher_is_better=False, note=f"raw: Embedder.embed, same texts; "
                                                            f"{s.detail}"))
        else:
            rows.append(Result(f"{prefix}: {s.name}", s.seconds, budget, "s", 1.0,
                               higher_is_better=False,
                               note=f"no raw baseline: raw = the 60-min/100k budget scaled to "
                                    f"N; {s.detail}"))
    total = sum(s.seconds for s in stages)
    peak = max(s.rss_mb + s.child_rss_mb for s in stages)
    rows.append(Result(f"{prefix}: total", total, budget, "s", 1.0, higher_is_better=False,
                       note=f"raw = the 60-min/100k budget scaled to N; {load}"))
    rows.append(Result(f"{prefix}: peak RSS", peak, BUDGET_RSS_MB, "MiB", 1.0,
                       higher_is_better=False, note="raw = the 8 GB budget; process + children"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=10_000)
    parser.add_argument("--per-scene", type=int, default=10, help="expressions per scene")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--embed-limit", type=int, default=1000,
                        help="scene texts to embed (0: skip; -1: all, writing the index)")
    parser.add_argument("--check-scenes", type=int, default=100,
                        help="scenes in the sample store that run_checks runs on (0: skip)")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--neo4j", action="store_true", help="Neo4j instead of the embedded store")
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args()
    args.embed_limit = None if args.embed_limit < 0 else args.embed_limit
    store_name = "neo4j" if args.neo4j else "embedded"
    print(f"scale: {args.scenes} scenes × {args.per_scene} on the {store_name} store; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="bench-scale-")))
        workdir.mkdir(parents=True, exist_ok=True)
        opener = stack.enter_context(neo4j_opener_factory(workdir)) if args.neo4j \
            else embedded_opener
        stages = run_path(args, workdir, opener)
    print_stages(stages)
    report(results(stages, args, store_name))


if __name__ == "__main__":
    main()

"""Reliability: commands killed with SIGKILL and run again end where an uninterrupted run ends,
and the read-only path refuses every write or admin statement on both stores.

The kill trials run the real CLI as a subprocess on a temporary embedded store. A reference run
measures how long the command takes; each trial starts the same command, kills it after a seeded
random share (25–100 %) of that time, runs it again to completion and compares what it leaves —
the graph (every node and relationship with its properties), the vector index (ids, hashes and
vectors) or the export (every file's SHA-256) — with the reference. ``bench/reliability.py``
runs the same trials at length; here two per command keep the suite fast (``generate`` has its
own kill test against a chat server in test_generation_kill.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from chat_server import ChatServer
from conftest import ROOT, SEEDS
from scenegraph.cli import cli
from scenegraph.errors import CorpusError
from scenegraph.load import load_corpus
from scenegraph.graph.schema import schema
from scenegraph.graph import open_store
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.vectors import KINDS, open_index
from scenegraph.web.app import create_app
from test_export import graph_snapshot

sys.path.insert(0, str(ROOT / "bench"))
from synth import write_corpus  # noqa: E402

KILL_SHARE = (0.25, 1.0)  # a kill lands in this share of the reference run's wall time
EMBED_MODEL = "openai:reliability-test"
STYLES = "поэт,логик,тело"


# -- kill trials (shared with bench/reliability.py) -----------------------------------------


@dataclass(frozen=True)
class Stage:
    """One command under test: how a trial folder is prepared, the command line, the outcome."""

    name: str
    prepare: Callable[[Path], None]  # fills an empty trial folder with the starting state
    args: Callable[[Path], list[str]]  # scenegraph arguments for a trial folder
    outcome: Callable[[Path], object]  # what must equal the reference's, read from the folder
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class TrialReport:
    """How the trials of one stage went."""

    stage: str
    trials: int = 0
    interrupted: int = 0  # trials whose command was still running when killed
    converged: int = 0  # trials whose re-run left exactly the reference outcome
    failures: list[str] = field(default_factory=list)


def scenegraph(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scenegraph.cli", *args], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_to_end(args: list[str], env: dict[str, str]) -> None:
    process = scenegraph(args, env)
    _, err = process.communicate(timeout=600)
    if process.returncode != 0:
        raise AssertionError(f"{args[2]} exited {process.returncode}: {err.strip()}")


def kill_trials(stage: Stage, workdir: Path, trials: int, seed: int) -> TrialReport:
    """Reference run, then ``trials`` kill-and-rerun trials compared with it."""
    reference = workdir / f"{stage.name}-reference"
    reference.mkdir(parents=True)
    stage.prepare(reference)
    started = time.monotonic()
    run_to_end(stage.args(reference), stage.env)
    wall_s = time.monotonic() - started
    expected = stage.outcome(reference)

    report, rng = TrialReport(stage.name), random.Random(seed)
    for trial in range(trials):
        folder = workdir / f"{stage.name}-{trial}"
        folder.mkdir()
        stage.prepare(folder)
        victim = scenegraph(stage.args(folder), stage.env)
        time.sleep(rng.uniform(*KILL_SHARE) * wall_s)
        report.interrupted += victim.poll() is None
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
        report.trials += 1
        try:
            run_to_end(stage.args(folder), stage.env)
            same = stage.outcome(folder) == expected
        except Exception as exc:  # noqa: BLE001 — a re-run that fails, or an unreadable outcome
            same = False
            report.failures.append(f"trial {trial}: {type(exc).__name__}: {exc}")
        else:
            if not same:
                report.failures.append(f"trial {trial}: outcome differs from the reference")
        report.converged += same
    return report


def store_snapshot(folder: Path) -> dict[str, list]:
    with LadybugStore(folder) as store:
        return graph_snapshot(store)


RUN_DEPENDENT = ("time", "latency_s")  # provenance keys that say when and how fast, not what


def generated_snapshot(folder: Path) -> dict[str, list]:
    """The graph, with each expression's provenance less the keys that differ from run to run."""
    snapshot = store_snapshot(folder)
    column = list(schema().nodes["Expression"].columns).index("provenance")
    rows = []
    for row in snapshot["Expression"]:
        provenance = json.loads(row[column])
        for key in RUN_DEPENDENT:
            provenance.pop(key, None)
        rows.append([*row[:column], provenance, *row[column + 1:]])
    snapshot["Expression"] = sorted(rows, key=repr)
    return snapshot


def index_snapshot(folder: Path) -> dict[str, dict[str, tuple[str, bytes]]]:
    """Per kind of index: id -> (content hash, vector bytes)."""
    with LadybugStore(folder) as store:
        out = {}
        for kind in KINDS:
            index = open_index(store, kind)
            vectors = index.vectors()
            out[kind] = {item_id: (item_hash, vectors[row].tobytes())
                         for row, (item_id, item_hash) in enumerate(zip(index.ids, index.hashes))}
        return out


def export_snapshot(out: Path) -> dict[str, str]:
    """Every file of an export (manifest and card included) by relative path -> SHA-256."""
    return {str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out.rglob("*")) if path.is_file()}


class Stages:
    """The four commands under test over one synthetic corpus of ``scenes`` scenes.

    ``loaded`` and ``generated`` are store folders built once (by the CLI) as starting points;
    exports all read ``generated``, so their manifests name the same store.
    """

    def __init__(self, workdir: Path, scenes: int, embed_url: str, generate_limit: int):
        self.corpus = workdir / "corpus.jsonl"
        write_corpus(self.corpus, scenes, seed=7)
        self.embed_env = {"SCENEGRAPH_EMBED_BASE_URL": embed_url}
        self.generate_limit = generate_limit
        self.loaded = workdir / "loaded"
        self.generated = workdir / "generated"
        run_to_end(self.load().args(workdir), {})
        (workdir / "store").rename(self.loaded)
        shutil.copytree(self.loaded, self.generated)
        run_to_end(["--store", str(self.generated), *self._generate_args()], {})

    def _generate_args(self) -> list[str]:
        return ["generate", "--provider", "template", "--styles", STYLES,
                "--limit", str(self.generate_limit)]

    def load(self) -> Stage:
        return Stage("load", _nothing, lambda d: ["--store", str(d / "store"), "load",
                                                  str(self.corpus)],
                     lambda d: store_snapshot(d / "store"))

    def embed(self) -> Stage:
        return Stage("embed", self._copy_loaded,
                     lambda d: ["--store", str(d / "store"), "embed", "--model", EMBED_MODEL,
                                "--batch-size", "16"],
                     lambda d: index_snapshot(d / "store"), env=self.embed_env)

    def generate(self) -> Stage:
        return Stage("generate", self._copy_loaded,
                     lambda d: ["--store", str(d / "store"), *self._generate_args()],
                     lambda d: generated_snapshot(d / "store"))

    def export(self) -> Stage:
        return Stage("export", _nothing,
                     lambda d: ["--store", str(self.generated), "export", str(d / "out"),
                                "--force", "--directions", "forward,reverse,transfer"],
                     lambda d: export_snapshot(d / "out"))

    def _copy_loaded(self, folder: Path) -> None:
        shutil.copytree(self.loaded, folder / "store")


def _nothing(_: Path) -> None:
    return None


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    with ChatServer(latency_ms=20) as server:
        yield Stages(tmp_path_factory.mktemp("reliability"), scenes=1500,
                     embed_url=server.base_url, generate_limit=300)


@pytest.mark.parametrize("name", ["load", "embed", "export"])
def test_sigkill_then_rerun_equals_an_uninterrupted_run(stages, name, tmp_path):
    stage = getattr(stages, name)()
    report = kill_trials(stage, tmp_path, trials=2, seed=sum(map(ord, name)))
    assert report.failures == [] and report.converged == report.trials == 2, report


# -- read-only guarantees -------------------------------------------------------------------


def refused_statements(scratch: Path) -> list[str]:
    """Write, file and admin statements the read-only path must refuse (each a different way
    in); file targets live in ``scratch`` so that a leak would show as a file."""
    return [
        "CREATE (s:Scene {id: 'ro-new'})",
        "MERGE (s:Scene {id: 'ro-new'})",
        "MATCH (s:Scene) SET s.title = 'changed'",
        "match (s:Scene) set s.title = 'changed'",
        "MATCH (s:Scene) SET s:Extra",
        "MATCH (e:Expression) DELETE e",
        "MATCH (s:Scene) DETACH DELETE s",
        "MATCH (s:Scene) /* only reading */ DETACH DELETE s",
        "MATCH (s:Scene) REMOVE s.title",
        "MATCH (s:Scene) FOREACH (x IN [1] | SET s.title = 'changed')",
        "MATCH (a:Scene), (b:Scene) WITH a, b LIMIT 1 CREATE (a)-[:LEADS_TO]->(b)",
        "CALL { MATCH (s:Scene) DETACH DELETE s }",
        "MATCH (s:Scene) RETURN s.id; MATCH (s:Scene) DETACH DELETE s",
        "DROP TABLE Scene",
        "ALTER TABLE Scene ADD extra STRING",
        "CREATE INDEX scene_title FOR (s:Scene) ON (s.title)",
        "CREATE CONSTRAINT scene_title FOR (s:Scene) REQUIRE s.title IS UNIQUE",
        f"LOAD CSV FROM 'file://{scratch}/in.csv' AS row CREATE (:Scene {{id: row[0]}})",
        f"LOAD FROM '{scratch}/in.csv' RETURN *",
        f"COPY Scene FROM '{scratch}/in.csv'",
        f"COPY (MATCH (s:Scene) RETURN s.id) TO '{scratch}/out.csv'",
        f"EXPORT DATABASE '{scratch}/dump'",
        f"ATTACH '{scratch}/other' AS other (dbtype lbug)",
        "INSTALL httpfs",
        "CALL dbms.security.createUser('intruder', 'secret', false)",
        "CALL db.createLabel('Intruder')",
        "CALL db.clearQueryCaches()",
        "USE system MATCH (n) RETURN n",
        "CHECKPOINT",
    ]


@pytest.fixture(params=["ladybug", "neo4j"])
def seeded_uri(request, tmp_path, monkeypatch):
    """A store URI holding the seeds (closed here, so the command under test opens it)."""
    if request.param == "ladybug":
        with LadybugStore(tmp_path / "store") as store:
            load_corpus(store, [SEEDS])
        return str(tmp_path / "store")
    server = request.getfixturevalue("neo4j_server")
    monkeypatch.setenv("NEO4J_USER", server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", server.password)
    load_corpus(request.getfixturevalue("neo4j_store"), [SEEDS])
    return server.uri


def counts_of(uri: str) -> dict[str, int]:
    with open_store(uri, read_only=True) as store:
        return store.counts()


@pytest.fixture
def scratch(tmp_path) -> Path:
    """Where refused file statements point: it must stay empty."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    (folder / "in.csv").write_text("ro-from-file\n", encoding="utf-8")
    return folder


def test_cypher_without_write_refuses_each_write_in_one_line(seeded_uri, scratch):
    before = counts_of(seeded_uri)
    assert before["Scene"] > 0
    runner = CliRunner()
    control = runner.invoke(cli, ["--store", seeded_uri, "cypher", "MATCH (s:Scene) RETURN s.id"])
    assert control.exit_code == 0, control.output  # reads still pass, so refusals mean something
    for statement in refused_statements(scratch):
        result = runner.invoke(cli, ["--store", seeded_uri, "cypher", statement])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1, (statement, result.output)
        assert lines[0].startswith("Error: "), (statement, lines)
        assert counts_of(seeded_uri) == before, statement
    assert [p.name for p in scratch.iterdir()] == ["in.csv"]


def test_the_explorer_refuses_each_write(seeded_uri, scratch):
    before = counts_of(seeded_uri)
    app = create_app(seeded_uri)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        control = client.post("/api/cypher", json={"query": "MATCH (s:Scene) RETURN s.id"})
        assert control.status_code == 200 and control.json()["row_count"] == before["Scene"]
        for statement in refused_statements(scratch):
            response = client.post("/api/cypher", json={"query": statement})
            assert response.status_code == 403, (statement, response.text)
            assert response.json()["error"].startswith("refused"), statement
            assert client.get("/api/stats").json()["counts"] == before, statement
    assert counts_of(seeded_uri) == before
    assert [p.name for p in scratch.iterdir()] == ["in.csv"]


# -- the corpus loader (bench/fuzz_loader.py runs 10,000 generated inputs) ----------------


def test_yaml_with_a_control_character_is_refused_in_one_line(ladybug_store, tmp_path):
    """Found by the fuzz run: PyYAML's reader raised before the loader's error handling."""
    path = tmp_path / "corpus.yaml"
    path.write_text("- id: Δ1\n  text: bell \x07 rings\n", encoding="utf-8")
    with pytest.raises(CorpusError) as refused:
        load_corpus(ladybug_store, [path])
    assert [line.split(": ")[1] for line in refused.value.problems] == ["file"]

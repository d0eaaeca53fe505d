"""Batch mode (`generate --batch`) against both batch APIs on loopback servers: the lifecycle
(validating → in_progress → completed / expired), partial errors, expired requests sent again,
`--status`, a run left and collected later with `--collect`, and the key kept out of the
journal, the graph and the output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from anthropic_server import AnthropicServer
from chat_server import ChatServer
from conftest import ROOT
from scenegraph.generation import GenerateOptions, batch_status, generate
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.llm.journal import JOURNAL_FILE

KEY = "sk-test-batch-0123456789"
KEY_ENV = "SCENEGRAPH_TEST_KEY"
STYLES = ["поэт", "логик"]
SCENES = 4
SERVERS = {"openai": ChatServer, "anthropic": AnthropicServer}


@pytest.fixture(params=sorted(SERVERS))
def server(request, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with SERVERS[request.param](require_key=KEY) as running:
        running.provider = request.param
        yield running


@pytest.fixture
def chat(monkeypatch):
    """The openai server alone: the command line is the same for both providers."""
    monkeypatch.setenv(KEY_ENV, KEY)
    with ChatServer(require_key=KEY) as running:
        running.provider = "openai"
        yield running


def options(server, **more) -> GenerateOptions:
    given = {"provider": server.provider, "base_url": server.base_url, "model": "m",
             "api_key_env": KEY_ENV, "limit": SCENES, "styles": STYLES, "batch": True,
             "poll_s": 0.05}
    return GenerateOptions(**{**given, **more})


def items(folder) -> list[tuple[str, int]]:
    return sqlite3.connect(folder / JOURNAL_FILE).execute(
        "SELECT status, count(*) FROM items GROUP BY status").fetchall()


def test_expired_requests_are_sent_again_and_every_item_is_stored(server, seeded_folder,
                                                                  tmp_path):
    server.set_batches(validating_s=0.1, in_progress_s=0.2, expire_batches=1, expire_share=0.5)
    folder = shutil.copytree(seeded_folder, tmp_path / "store")
    with LadybugStore(folder) as store:
        report = generate(store, options(server))
        assert (report.generated, report.failed, report.batches) == (8, 0, 2)
        assert report.batch and report.resubmitted == 2  # 'many' mode: one request a subject
        texts = [e for e in store.expressions() if e.provenance.get("provider") == server.provider]
        assert len(texts) == 8 and all(e.text for e in texts)
        statuses = batch_status(store)
    counts = server.batches()["submitted"]
    assert sorted(counts.values()) == [1, 1, 2, 2]  # the expired requests, twice; no other
    assert [(b.state, b.submitted, b.done, b.failed) for b in statuses] == [
        ("ended", 4, 2, 2), ("ended", 2, 2, 0)]
    assert items(folder) == [("stored", 8)]


def test_partial_errors_are_retried_and_refusals_fail_until_a_rerun(server, seeded_folder,
                                                                    tmp_path):
    folder = shutil.copytree(seeded_folder, tmp_path / "store")
    server.set_faults(fail_first=1, kinds=["500"])  # a server error: sent again in this run
    with LadybugStore(folder) as store:
        report = generate(store, options(server))
        assert (report.generated, report.failed, report.resubmitted) == (8, 0, 1)
    server.reset()
    server.set_faults(fail_first=1, kinds=["malformed"])  # an answer that cannot be read
    with LadybugStore(folder) as store:
        report = generate(store, options(server, styles=["тело"]))
        assert (report.generated, report.failed) == (SCENES - 1, 1)
        assert report.failures[0].reason
        server.reset()
        again = generate(store, options(server, styles=["тело"]))
        assert (again.already_done, again.generated, again.requests) == (SCENES - 1, 1, 1)


def cli(server, folder, *args: str, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "scenegraph.cli", "--store", str(folder), "generate",
               "--provider", server.provider, "--base-url", server.base_url, "--model", "m",
               "--api-key-env", KEY_ENV, "--limit", str(SCENES), "--styles", ",".join(STYLES),
               "--poll", "0.05", *args]
    env = {**os.environ, KEY_ENV: KEY, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def test_a_run_left_is_shown_by_status_and_collected_later(chat, seeded_folder, tmp_path):
    server = chat
    server.set_batches(in_progress_s=3.0)
    folder = shutil.copytree(seeded_folder, tmp_path / "store")
    left = cli(server, folder, "--batch")
    while left.poll() is None and not server.batches()["batches"]:
        time.sleep(0.01)
    time.sleep(0.3)  # the server's id is journaled
    left.send_signal(signal.SIGKILL)
    left.wait()

    status = cli(server, folder, "--batch", "--status", "--json")
    shown = json.loads(status.communicate(timeout=60)[0])
    assert [(b["state"], b["submitted"], b["pending"]) for b in shown] == [("submitted", 4, 4)]

    collect = cli(server, folder, "--batch", "--collect")
    output = collect.communicate(timeout=60)[0]
    assert collect.returncode == 0, output
    assert set(server.batches()["submitted"].values()) == {1}  # nothing sent again
    assert len(server.batches()["batches"]) == 1
    assert items(folder) == [("stored", 8)]
    assert "batches submitted" in output
    for path in folder.rglob("*"):  # the journal, the graph, their logs
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in output and KEY not in shown.__repr__()


def test_collect_sends_nothing_new(server, seeded_folder, tmp_path):
    folder = shutil.copytree(seeded_folder, tmp_path / "store")
    with LadybugStore(folder) as store:
        report = generate(store, options(server, collect=True))
    assert (report.requests, report.left, report.generated) == (0, 8, 0)
    assert server.batches()["submitted"] == {}


def test_batch_prices_are_half_the_list_price():
    from scenegraph.llm.cost import Price

    price = Price(input=2.0, output=8.0)
    assert price.batched().cost(1_000_000, 1_000_000) == pytest.approx(5.0)

"""A `generate` killed with SIGKILL at a random point, then run again, yields exactly the plan.

The CLI runs as a subprocess against the loopback chat server (40 ms a request, two at a time).
A reference run measures how long the command works after its first request; each trial kills
the command at a uniformly random moment of that span (asking, journaling, writing the graph,
or already done), runs the same plan again, and checks the graph and the journal: every planned
expression once, nothing duplicated, nothing superseded.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from chat_server import ChatServer
from conftest import ROOT
from scenegraph.generation import GenerateOptions, generate
from scenegraph.llm.journal import JOURNAL_FILE
from scenegraph.generation.plan import select_scenes
from scenegraph.graph.ladybug import LadybugStore

KEY = "sk-test-kill"
KEY_ENV = "SCENEGRAPH_TEST_KEY"
MODEL = "chat-server-test"
STYLES = ("поэт", "логик", "тело")
SCENES = 12
TRIALS = 5


@pytest.fixture(scope="module")
def server():
    with ChatServer(latency_ms=40, require_key=KEY) as running:
        yield running


def cli_generate(server, folder) -> subprocess.Popen:
    command = [sys.executable, "-m", "scenegraph.cli", "--store", str(folder), "generate",
               "--provider", "openai", "--base-url", server.base_url, "--model", MODEL,
               "--api-key-env", KEY_ENV, "--limit", str(SCENES), "--styles", ",".join(STYLES),
               "--mode", "one", "-c", "2"]
    env = {**os.environ, KEY_ENV: KEY, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def same_plan(server) -> GenerateOptions:
    """The options the command line above means."""
    return GenerateOptions(provider="openai", base_url=server.base_url, model=MODEL,
                           api_key_env=KEY_ENV, limit=SCENES, styles=list(STYLES), mode="one",
                           concurrency=2)


def chat_requests(server) -> int:
    return sum(1 for e in server.log() if e["path"] == "/v1/chat/completions")


def start_and_wait_for_first_request(server, folder) -> subprocess.Popen:
    server.reset()
    process = cli_generate(server, folder)
    while process.poll() is None and chat_requests(server) == 0:
        time.sleep(0.005)
    return process


def test_sigkill_at_a_random_point_then_rerun_gives_exactly_the_plan(server, seeded_folder,
                                                                    tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    reference = start_and_wait_for_first_request(server, shutil.copytree(
        seeded_folder, tmp_path / "reference"))
    started = time.monotonic()
    assert reference.wait(timeout=60) == 0
    working_s = time.monotonic() - started

    rng = random.Random(20)
    planned = SCENES * len(STYLES)
    for trial in range(TRIALS):
        folder = shutil.copytree(seeded_folder, tmp_path / f"trial{trial}")
        victim = start_and_wait_for_first_request(server, folder)
        time.sleep(rng.uniform(0, working_s))
        victim.send_signal(signal.SIGKILL)
        victim.wait()

        with LadybugStore(folder) as store:
            report = generate(store, same_plan(server))
            assert report.planned == planned and report.failed == 0
            expected = sorted((sid, style) for sid in select_scenes(store, same_plan(server))
                              for style in STYLES)
            active = [e for e in store.expressions() if e.provenance.get("provider") == "openai"]
            assert sorted((e.scene_ids[0], e.style) for e in active) == expected, trial
            assert not [e for e in store.expressions(status="superseded")]
        rows = sqlite3.connect(folder / JOURNAL_FILE).execute(
            "SELECT status, count(*) FROM items GROUP BY status").fetchall()
        assert rows == [("stored", planned)], trial

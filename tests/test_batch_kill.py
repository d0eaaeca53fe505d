"""`generate --batch` killed with SIGKILL while it submits batches, or while it polls them, then
run again: every planned item is stored exactly once and no request was submitted twice (the
loopback server counts each custom id it was sent in a batch).

The CLI runs as a subprocess against the loopback servers' batch APIs (OpenAI's Batch API for
both, Anthropic's Message Batches for submission too: a batch whose create was cut off is found
there by its request count and custom ids, not by metadata). Submission: batches
of four requests, the server answering each upload and each create after 0.15 s (it keeps the
batch from the moment the create arrives), the kill at a random moment from the first upload
over the span of all submissions. Polling: the kill at a random moment after the last batch was
created, while they are in progress.
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

from anthropic_server import AnthropicServer
from chat_server import ChatServer
from conftest import ROOT
from scenegraph.generation import GenerateOptions, generate
from scenegraph.generation.plan import select_scenes
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.llm.journal import JOURNAL_FILE

KEY = "sk-test-batch-kill"
KEY_ENV = "SCENEGRAPH_TEST_KEY"
MODEL = "chat-server-test"
STYLES = ("поэт", "логик")
SCENES = 6
BATCH_SIZE = 4
REQUESTS = SCENES * len(STYLES)
BATCHES = -(-REQUESTS // BATCH_SIZE)
CREATE_S = 0.15
TRIALS = 5


# The first request of a submission, and the one that creates a batch, by provider.
FIRST_SUBMISSION = {"openai": "/v1/files", "anthropic": "/v1/messages/batches"}
CREATE = {"openai": "/v1/batches", "anthropic": "/v1/messages/batches"}


@pytest.fixture(scope="module")
def server():
    with ChatServer(require_key=KEY) as running:
        running.provider = "openai"
        yield running


@pytest.fixture(scope="module")
def anthropic():
    with AnthropicServer(require_key=KEY) as running:
        running.provider = "anthropic"
        yield running


def cli_batch(server, folder) -> subprocess.Popen:
    command = [sys.executable, "-m", "scenegraph.cli", "--store", str(folder), "generate",
               "--provider", server.provider, "--base-url", server.base_url, "--model", MODEL,
               "--api-key-env", KEY_ENV, "--limit", str(SCENES), "--styles", ",".join(STYLES),
               "--mode", "one", "--batch", "--batch-size", str(BATCH_SIZE), "--poll", "0.05"]
    env = {**os.environ, KEY_ENV: KEY, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def same_plan(server) -> GenerateOptions:
    return GenerateOptions(provider=server.provider, base_url=server.base_url, model=MODEL,
                           api_key_env=KEY_ENV, limit=SCENES, styles=list(STYLES), mode="one",
                           batch=True, batch_size=BATCH_SIZE, poll_s=0.05)


def paths(server) -> list[str]:
    return [e["path"] for e in server.log()]


def created(server) -> int:
    """Batch creations the server was asked for (a list of batches shares Anthropic's path)."""
    path = CREATE[server.provider]
    return sum(e["path"] == path and e["method"] == "POST" for e in server.log())


def wait_until(process: subprocess.Popen, done) -> None:
    while process.poll() is None and not done():
        time.sleep(0.005)


def rerun_and_check(server, folder, trial: str) -> None:
    with LadybugStore(folder) as store:
        report = generate(store, same_plan(server))
        assert report.planned == REQUESTS and report.failed == 0, (trial, report)
        expected = sorted((sid, style) for sid in select_scenes(store, same_plan(server))
                          for style in STYLES)
        active = [e for e in store.expressions()
                  if e.provenance.get("provider") == server.provider]
        assert sorted((e.scene_ids[0], e.style) for e in active) == expected, trial
    rows = sqlite3.connect(folder / JOURNAL_FILE).execute(
        "SELECT status, count(*) FROM items GROUP BY status").fetchall()
    assert rows == [("stored", REQUESTS)], trial
    submitted = server.batches()["submitted"]
    assert len(submitted) == REQUESTS and set(submitted.values()) == {1}, (trial, submitted)


def trial_folder(seeded_folder, tmp_path, name):
    return shutil.copytree(seeded_folder, tmp_path / name)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_sigkill_during_submission_then_rerun_submits_nothing_twice(provider, request,
                                                                    seeded_folder, tmp_path,
                                                                    monkeypatch):
    server = request.getfixturevalue("server" if provider == "openai" else provider)
    monkeypatch.setenv(KEY_ENV, KEY)
    rng = random.Random(16)
    span = BATCHES * 2 * CREATE_S
    for trial in range(TRIALS):
        server.reset()
        server.set_batches(create_s=CREATE_S, in_progress_s=0.2)
        folder = trial_folder(seeded_folder, tmp_path, f"submit{trial}")
        victim = cli_batch(server, folder)
        wait_until(victim, lambda: FIRST_SUBMISSION[provider] in paths(server))
        time.sleep(rng.uniform(0, span))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        rerun_and_check(server, folder, f"submission trial {trial}")


def test_sigkill_during_polling_then_rerun_submits_nothing_twice(server, seeded_folder,
                                                                 tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    rng = random.Random(17)
    for trial in range(TRIALS):
        server.reset()
        server.set_batches(in_progress_s=0.6)
        folder = trial_folder(seeded_folder, tmp_path, f"poll{trial}")
        victim = cli_batch(server, folder)
        wait_until(victim, lambda: created(server) >= BATCHES)
        time.sleep(rng.uniform(0, 0.8))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        rerun_and_check(server, folder, f"polling trial {trial}")

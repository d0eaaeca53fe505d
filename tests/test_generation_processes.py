"""`generate --processes N`: worker processes ask, one writer journals and writes the graph.

The CLI runs as a subprocess against the loopback chat server (40 ms a request). Two worker
processes store exactly what one process stores. A run killed with SIGKILL (the whole process
group at a random moment of its work, the command alone, or one worker alone) and then run
again yields exactly the plan: every planned expression once, nothing duplicated or superseded;
no worker outlives the command.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from chat_server import ChatServer
from conftest import ROOT
from scenegraph.generation import GenerateOptions, generate
from scenegraph.generation.options import MIN_REQUESTS_PER_PROCESS
from scenegraph.generation.processes import processes_for
from scenegraph.generation.plan import select_scenes
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.llm.journal import JOURNAL_FILE
from scenegraph.llm.providers import make_provider

KEY = "sk-test-processes"
KEY_ENV = "SCENEGRAPH_TEST_KEY"
MODEL = "chat-server-test"
STYLES = ("поэт", "логик", "тело")
SCENES = 40
CONCURRENCY = 8
GROUP_TRIALS = 5


@pytest.fixture(scope="module")
def server():
    with ChatServer(latency_ms=40, require_key=KEY) as running:
        yield running


def cli_generate(server, folder, processes: int, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "scenegraph.cli", "--store", str(folder), "generate",
               "--provider", "openai", "--base-url", server.base_url, "--model", MODEL,
               "--api-key-env", KEY_ENV, "--limit", str(SCENES), "--styles", ",".join(STYLES),
               "--mode", "one", "-c", str(CONCURRENCY), "--processes", str(processes), "--json"]
    env = {**os.environ, KEY_ENV: KEY, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, **popen)


def same_plan(server) -> GenerateOptions:
    """The options the command line above means, asked for in this process."""
    return GenerateOptions(provider="openai", base_url=server.base_url, model=MODEL,
                           api_key_env=KEY_ENV, limit=SCENES, styles=list(STYLES), mode="one",
                           concurrency=CONCURRENCY, processes=1)


def journal_rows(folder) -> list[tuple]:
    with sqlite3.connect(folder / JOURNAL_FILE) as db:
        return sorted(db.execute("SELECT key, slot, status, expression_id FROM items"))


def chat_requests(server) -> int:
    return sum(1 for e in server.log() if e["path"] == "/v1/chat/completions")


def start_and_wait_for_first_request(server, folder, processes: int = 2) -> subprocess.Popen:
    server.reset()
    process = cli_generate(server, folder, processes, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    while process.poll() is None and chat_requests(server) == 0:
        time.sleep(0.005)
    return process


def workers_of(command: subprocess.Popen) -> list[psutil.Process]:
    """The command's worker processes: its grandchildren (they start from its fork server)."""
    children = psutil.Process(command.pid).children(recursive=True)
    return [child for child in children if child.ppid() != command.pid]


def assert_no_worker_left(workers: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, alive


def assert_rerun_gives_exactly_the_plan(server, folder, label) -> None:
    planned = SCENES * len(STYLES)
    with LadybugStore(folder) as store:
        report = generate(store, same_plan(server))
        assert report.planned == planned and report.failed == 0, label
        expected = sorted((sid, style) for sid in select_scenes(store, same_plan(server))
                          for style in STYLES)
        active = [e for e in store.expressions() if e.provenance.get("provider") == "openai"]
        assert sorted((e.scene_ids[0], e.style) for e in active) == expected, label
        assert not store.expressions(status="superseded"), label
    statuses = {status for _, _, status, _ in journal_rows(folder)}
    assert statuses == {"stored"} and len(journal_rows(folder)) == planned, label


def test_one_process_where_more_would_not_pay_or_could_not_share(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    live = GenerateOptions(api_key_env=KEY_ENV, concurrency=64)
    openai = make_provider(live.provider_config())
    many = 10 * MIN_REQUESTS_PER_PROCESS
    assert processes_for(live, openai, many) == 4  # one per CPU
    assert processes_for(live, openai, 3 * MIN_REQUESTS_PER_PROCESS) == 3
    assert processes_for(live, openai, MIN_REQUESTS_PER_PROCESS - 1) == 1
    assert processes_for(live.model_copy(update={"processes": 3}), openai, 40) == 3  # as asked
    assert processes_for(live.model_copy(update={"processes": 8, "concurrency": 2}),
                         openai, many) == 2  # never more than -c
    for alone in ({"batch": True}, {"max_cost_usd": 1.0}, {"dry_run": True}):
        assert processes_for(live.model_copy(update={"processes": 2, **alone}), openai,
                             many) == 1, alone
    template = GenerateOptions(provider="template", processes=2)
    assert processes_for(template, make_provider(template.provider_config()), many) == 1


def test_two_processes_store_what_one_stores(server, seeded_folder, tmp_path):
    stored = {}
    for processes in (1, 2):
        folder = shutil.copytree(seeded_folder, tmp_path / f"p{processes}")
        command = cli_generate(server, folder, processes, stdout=subprocess.PIPE)
        out, _ = command.communicate(timeout=120)
        assert command.returncode == 0
        report = json.loads(out)
        assert report["processes"] == processes
        assert report["generated"] == SCENES * len(STYLES) and report["failed"] == 0
        with LadybugStore(folder) as store:
            expressions = sorted((e.id, e.text, e.style) for e in store.expressions())
        stored[processes] = (expressions, journal_rows(folder))
    assert stored[2] == stored[1]


def test_sigkill_at_random_points_then_rerun_gives_exactly_the_plan(server, seeded_folder,
                                                                     tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    reference = start_and_wait_for_first_request(server, shutil.copytree(
        seeded_folder, tmp_path / "reference"))
    started = time.monotonic()
    assert reference.wait(timeout=120) == 0
    working_s = time.monotonic() - started

    rng = random.Random(18)
    # The whole process group at random moments; then the command alone (its workers notice
    # and end); then one worker alone, midway (the command stops with an error, journaling what
    # came).
    for trial in [*(f"group {n}" for n in range(GROUP_TRIALS)), "command", "worker"]:
        folder = shutil.copytree(seeded_folder, tmp_path / trial.replace(" ", "-"))
        victim = start_and_wait_for_first_request(server, folder)
        if trial == "worker":
            # Midway through the asking: the rest must be left to the re-run.
            while chat_requests(server) < SCENES * len(STYLES) // 3 and victim.poll() is None:
                time.sleep(0.005)
            workers = workers_of(victim)
            assert len(workers) == 2, trial
            workers[0].send_signal(signal.SIGKILL)
            _, err = victim.communicate(timeout=60)
            assert victim.returncode == 1 and b"worker process" in err, err
            assert journal_rows(folder), "what arrived before the worker died is journaled"
        else:
            time.sleep(rng.uniform(0, working_s))
            workers = workers_of(victim)
            if trial == "command":
                victim.send_signal(signal.SIGKILL)
            else:
                os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
        assert_no_worker_left(workers)
        assert_rerun_gives_exactly_the_plan(server, folder, trial)

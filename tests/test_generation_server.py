"""Generation against a real OpenAI-compatible server on loopback (tests/chat_server.py).

The server runs in its own process and requires an API key; faults are switched on per test.
Covers: provenance, the dry-run estimate against the server's own token counts, 30% faults of
every kind, Retry-After, the key never stored or printed. SIGKILL: test_generation_kill.py.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys

import pytest

from chat_server import FAULT_KINDS, ChatServer
from conftest import ROOT
from scenegraph.generation import GenerateOptions, generate
from scenegraph.llm.journal import JOURNAL_FILE
from scenegraph.graph.ladybug import LadybugStore

KEY = "sk-test-9f3c2b7e-SECRET-key"
KEY_ENV = "SCENEGRAPH_TEST_KEY"
MODEL = "chat-server-test"


@pytest.fixture(scope="module")
def server():
    with ChatServer(latency_ms=20, require_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_server(server, monkeypatch):
    server.reset()
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
def store(seeded_copy):
    return seeded_copy


def options(server, **values) -> GenerateOptions:
    base = dict(provider="openai", base_url=server.base_url, model=MODEL, api_key_env=KEY_ENV,
                backoff_s=0.01, concurrency=4)
    return GenerateOptions(**{**base, **values})


def chat_requests(server) -> list[dict]:
    return [e for e in server.log() if e["path"] == "/v1/chat/completions"]


def from_model(store, status="active"):
    return [e for e in store.expressions(status=status)
            if e.provenance.get("provider") == "openai"]


def test_many_outputs_per_request_with_full_provenance(server, store):
    report = generate(store, options(server, limit=3, per_request=4))
    assert report.generated == report.planned == 3 * 7 and report.failed == 0
    requests = chat_requests(server)
    assert len(requests) == report.requests == 3 * 2  # 7 slots: 4 + 3 per scene
    body = requests[0]["body"]
    assert body["response_format"] == {"type": "json_object"} and body["model"] == MODEL
    assert body["messages"][-1]["content"].splitlines()[-1].startswith("KEYS: [")
    host = server.base_url.split("//")[1].split("/")[0]
    for expr in from_model(store):
        prov = expr.provenance
        assert prov["model"] == MODEL and prov["endpoint"] == host
        assert prov["params"]["mode"] == "many" and prov["params"]["temperature"] == 0.9
        assert prov["usage"]["prompt_tokens"] > 0 and prov["usage"]["outputs"] in (3, 4)
        assert prov["latency_s"] > 0 and prov["template_hash"] == report.template_hash
        assert expr.text.startswith("The ")  # the server's sentence, read out of its JSON


def test_dry_run_estimate_matches_what_the_server_counts(server, store, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("prices:\n  gpt-4o-mini: {input: 3.0, output: 15.0}\n", encoding="utf-8")
    # An OpenAI model name: the estimate counts with its tokenizer (cl100k), as the server does.
    opts = options(server, limit=5, styles=["поэт", "логик"], mode="one", config=prices,
                   model="gpt-4o-mini")
    dry = generate(store, opts.model_copy(update={"dry_run": True}))
    assert chat_requests(server) == [] and not (store.data_dir / JOURNAL_FILE).exists()
    est = dry.estimate
    assert est.requests == dry.requests == 10 and est.completion_tokens == 10 * 80
    assert est.cost_usd == pytest.approx((est.prompt_tokens * 3.0 + 800 * 15.0) / 1e6)
    real = generate(store, opts)
    assert real.prompt_tokens == est.prompt_tokens  # the server counts with cl100k too
    assert len(chat_requests(server)) == est.requests


def test_thirty_percent_faults_of_every_kind(server, store):
    # One request at a time, so the server's seeded fault sequence repeats exactly.
    server.set_faults(rate=0.3, kinds=FAULT_KINDS, seed=5, retry_after_s=0.05, hang_s=1)
    opts = options(server, limit=10, per_request=3, retries=1, timeout_s=0.3, concurrency=1)
    first = generate(store, opts)
    log = chat_requests(server)
    assert {e["fault"] for e in log} >= set(FAULT_KINDS)
    assert any(m["role"] == "assistant" for e in log for m in e["body"]["messages"])  # a re-ask
    assert first.generated + first.failed == first.planned == 70 and first.failed > 0
    journal = sqlite3.connect(store.data_dir / JOURNAL_FILE)
    failed = journal.execute("SELECT reason FROM items WHERE status = 'failed'").fetchall()
    assert len(failed) == first.failed and all(reason for (reason,) in failed)
    assert len(from_model(store)) == first.generated

    server.set_faults(rate=0.0)
    second = generate(store, opts)
    assert second.already_done == first.generated
    assert second.generated == first.failed and second.failed == 0
    assert len(from_model(store)) == 70
    assert journal.execute("SELECT count(*) FROM items WHERE status = 'stored'").fetchone() == (70,)


def test_retry_after_is_honoured(server, store):
    server.set_faults(fail_first=1, kinds=["429"], retry_after_s=1.2)
    report = generate(store, options(server, limit=1, styles=["поэт"], retries=2))
    assert report.generated == 1
    first, second = chat_requests(server)
    assert first["status"] == 429 and second["status"] == 200
    assert second["time"] - first["time"] >= 1.2


def test_a_refused_key_stops_the_run_with_one_clear_error(server, store, monkeypatch):
    from scenegraph.errors import ProviderError

    monkeypatch.setenv(KEY_ENV, "sk-wrong-key")
    with pytest.raises(ProviderError, match=f"check {KEY_ENV}"):
        generate(store, options(server, limit=3))
    assert from_model(store) == []


def run_cli(server, store_dir, *extra, key=KEY, **popen):
    command = [sys.executable, "-m", "scenegraph.cli", "--store", str(store_dir), "generate",
               "--provider", "openai", "--base-url", server.base_url, "--model", MODEL,
               "--api-key-env", KEY_ENV, *extra]
    env = {**os.environ, KEY_ENV: key, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)


def test_the_key_never_reaches_the_graph_journal_or_logs(server, store, caplog):
    caplog.set_level(logging.DEBUG)
    server.set_faults(rate=0.3, kinds=["429", "500", "malformed", "wrong_count"], seed=3,
                      retry_after_s=0.05)
    generate(store, options(server, limit=4, retries=1))
    store.close()
    outputs = []
    for key, limit in ((KEY, "6"), (KEY + "-wrong", "8")):  # the second has work to refuse
        done = run_cli(server, store.data_dir, "--limit", limit, "--retries", "1", key=key)
        outputs.append(b"".join(done.communicate(timeout=60)))
    assert b"Error:" in outputs[1] and b"check " + KEY_ENV.encode() in outputs[1]
    assert "retrying" in caplog.text  # the run did log, and retried
    haystacks = [caplog.text.encode(), *outputs]
    haystacks += [p.read_bytes() for p in store.data_dir.rglob("*") if p.is_file()]
    for secret in (KEY, KEY + "-wrong"):
        assert not any(secret.encode() in hay for hay in haystacks)
    with LadybugStore(store.data_dir) as reopened:
        assert len(from_model(reopened)) >= 6 * 7 - 7  # the graph was written (one may fail)

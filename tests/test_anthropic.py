"""Generation with ``--provider anthropic`` against a real Messages API server on loopback
(tests/anthropic_server.py, in its own process, requiring an API key).

Covers: the request the provider sends (system on top, the forced tool, no sampling parameters),
every planned item stored exactly once, usage tokens as the server counted them, faults of every
kind retried (429 and 529 after their ``retry-after``, timeouts) and a 400 rejected without a
retry, the per-provider defaults of the key variable and the model, and the key never reaching
the graph, the journal, the logs or an export.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter

import pytest
from click.testing import CliRunner

from anthropic_server import FAULT_KINDS, AnthropicServer
from scenegraph.cli import cli
from scenegraph.errors import ConfigError, ProviderError
from scenegraph.export import export_dataset
from scenegraph.generation import GenerateOptions, generate
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.llm import ProviderConfig, make_provider
from scenegraph.llm.journal import JOURNAL_FILE
from scenegraph.llm.parse import first_json_value

KEY = "sk-ant-test-4d2e91c7-SECRET-key"
KEY_ENV = "SCENEGRAPH_TEST_ANTHROPIC_KEY"
MODEL = "claude-test"
SLOTS = 7  # styles "all" in the bundled config: one item per scene each


@pytest.fixture(scope="module")
def server():
    with AnthropicServer(latency_ms=10, require_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_server(server, monkeypatch):
    server.reset()
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture
def store(seeded_copy):
    return seeded_copy


def options(server, **values) -> GenerateOptions:
    base = dict(provider="anthropic", base_url=server.base_url, model=MODEL, api_key_env=KEY_ENV,
                backoff_s=0.01, concurrency=4)
    return GenerateOptions(**{**base, **values})


def from_model(store):
    return [e for e in store.expressions(status="active")
            if e.provenance.get("provider") == "anthropic"]


def stored_items(store) -> Counter:
    """How many active expressions each planned item has in the graph."""
    return Counter(e.provenance["item_key"] for e in from_model(store))


def journal_statuses(store) -> Counter:
    with sqlite3.connect(store.data_dir / JOURNAL_FILE) as journal:
        return Counter(status for (status,) in journal.execute("SELECT status FROM items"))


def test_every_planned_item_is_stored_once_with_the_servers_usage(server, store):
    report = generate(store, options(server, limit=4, per_request=4))
    assert report.generated == report.planned == 4 * SLOTS and report.failed == 0
    requests = server.messages()
    assert len(requests) == report.requests == 4 * 2  # 7 slots: 4 + 3 per scene
    body = requests[0]["body"]
    assert body["model"] == MODEL and body["system"].startswith("You are a scene interpreter")
    assert {m["role"] for m in body["messages"]} == {"user"}
    assert not {"temperature", "top_p", "top_k"} & set(body)
    assert body["tool_choice"] == {"type": "tool", "name": "record_outputs"}
    sizes = []
    for entry in requests:  # in the order they arrived: 4 and 3 keys, interleaved
        asked = entry["body"]
        keys = first_json_value(asked["messages"][-1]["content"].rsplit("KEYS:", 1)[1])
        schema = asked["tools"][0]["input_schema"]["properties"]["outputs"]["items"]
        assert schema["properties"]["key"]["enum"] == keys
        sizes.append(len(keys))
    assert sorted(sizes) == [3] * 4 + [4] * 4

    assert report.prompt_tokens == sum(e["usage"]["input_tokens"] for e in requests) > 0
    assert report.completion_tokens == sum(e["usage"]["output_tokens"] for e in requests) > 0
    assert stored_items(store) == {key: 1 for key in stored_items(store)}
    assert len(stored_items(store)) == report.planned
    assert journal_statuses(store) == {"stored": report.planned}
    host = server.base_url.split("//")[1]
    for expr in from_model(store):
        prov = expr.provenance
        assert prov["model"] == MODEL and prov["endpoint"] == host
        assert prov["params"]["json_mode"] is True and prov["params"]["max_tokens"] == 1024
        assert "temperature" not in prov["params"] and "seed" not in prov["params"]
        assert prov["usage"]["prompt_tokens"] > 0 and prov["usage"]["completion_tokens"] > 0
        assert expr.text.startswith("The ")  # the server's sentence, out of the tool's input

    again = generate(store, options(server, limit=4, per_request=4))
    assert again.already_done == report.planned and again.requests == 0
    assert len(server.messages()) == len(requests)


def test_faults_of_every_kind_are_retried_or_failed_then_finished(server, store):
    # One request at a time, so the server's seeded fault sequence repeats exactly.
    kinds = [kind for kind in FAULT_KINDS if kind != "400"]
    server.set_faults(rate=0.5, kinds=kinds, seed=89, retry_after_s=0.05, hang_s=1)
    opts = options(server, limit=5, per_request=3, retries=1, timeout_s=0.3, concurrency=1)
    first = generate(store, opts)
    log = server.messages()
    assert {e["fault"] for e in log} >= set(kinds)
    assert any(m["role"] == "assistant" for e in log for m in e["body"]["messages"])  # a re-ask
    assert first.generated + first.failed == first.planned == 5 * SLOTS and first.failed > 0
    assert len(from_model(store)) == first.generated

    server.set_faults(rate=0.0)
    second = generate(store, opts)
    assert second.already_done == first.generated
    assert second.generated == first.failed and second.failed == 0
    assert len(stored_items(store)) == first.planned
    assert set(stored_items(store).values()) == {1}
    assert journal_statuses(store) == {"stored": first.planned}


@pytest.mark.parametrize("kind", ["429", "529"])
def test_rate_limits_and_overload_wait_for_retry_after(server, store, kind):
    server.set_faults(fail_first=1, kinds=[kind], retry_after_s=0.7)
    report = generate(store, options(server, limit=1, styles=["поэт"], retries=2))
    assert report.generated == 1
    first, second = server.messages()  # the SDK's own retries are off: two requests, no more
    assert (first["status"], second["status"]) == (int(kind), 200)
    assert second["time"] - first["time"] >= 0.7  # far above the 0.01 s backoff


def test_a_slow_answer_times_out_and_is_asked_again(server, store):
    server.set_faults(fail_first=1, kinds=["timeout"], hang_s=2)
    report = generate(store, options(server, limit=1, styles=["поэт"], timeout_s=0.3))
    assert report.generated == 1 and len(server.messages()) == 2


def test_a_bad_request_is_rejected_without_a_retry(server, store):
    server.set_faults(fail_first=1, kinds=["400"])
    report = generate(store, options(server, limit=1, styles=["поэт"], retries=3))
    assert report.failed == 1 and report.generated == 0
    assert len(server.messages()) == 1
    assert "BadRequestError" in report.failures[0].reason and "400" in report.failures[0].reason
    assert journal_statuses(store) == {"failed": 1}


def test_without_json_mode_the_text_answer_is_read(server, store):
    report = generate(store, options(server, limit=1, json_mode=False))
    assert report.generated == report.planned == SLOTS
    assert all("tools" not in e["body"] for e in server.messages())


def test_the_key_variable_and_model_default_per_provider(monkeypatch):
    anthropic = GenerateOptions(provider="anthropic")
    assert (anthropic.api_key_env, anthropic.model) == ("ANTHROPIC_API_KEY", "claude-sonnet-4-5")
    assert anthropic.provider_config().api_key_env == "ANTHROPIC_API_KEY"
    given = GenerateOptions(provider="anthropic", api_key_env="MY_KEY", model="claude-haiku-4-5")
    assert (given.api_key_env, given.model) == ("MY_KEY", "claude-haiku-4-5")
    openai = GenerateOptions()
    assert (openai.api_key_env, openai.model) == ("OPENAI_API_KEY", "gpt-4o-mini")

    config = ProviderConfig(name="anthropic", model="m", temperature=0.9, max_tokens=8,
                            timeout_s=1)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set ANTHROPIC_API_KEY"):
        make_provider(config)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    provider = make_provider(config)
    assert (provider.name, provider.endpoint) == ("anthropic", "api.anthropic.com")


def run_cli(server, store_dir, *extra) -> bytes:
    """`scenegraph generate --provider anthropic`, the key in ANTHROPIC_API_KEY (the default)."""
    args = ["--store", str(store_dir), "generate", "--provider", "anthropic",
            "--base-url", server.base_url, "--model", MODEL, *extra]
    done = CliRunner().invoke(cli, args, env={"ANTHROPIC_API_KEY": KEY}, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.output.encode()


def test_the_key_never_reaches_the_graph_journal_logs_or_exports(
    server, store, tmp_path, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)  # the SDK's and the HTTP client's debug logs included
    # Seed 1: the first request gets a 429, so the run retries (and logs it).
    server.set_faults(rate=0.3, kinds=["429", "529", "500", "400", "malformed", "wrong_count"],
                      seed=1, retry_after_s=0.05)
    generate(store, options(server, limit=3, retries=1))
    monkeypatch.setenv(KEY_ENV, KEY + "-wrong")
    with pytest.raises(ProviderError, match=f"check {KEY_ENV}") as refused:
        generate(store, options(server, limit=4))
    store.close()
    server.set_faults(rate=0.0)
    printed = run_cli(server, store.data_dir, "--limit", "4", "--retries", "1")
    assert "retrying" in caplog.text  # the run did log, and retried
    with LadybugStore(store.data_dir) as reopened:
        assert len(stored_items(reopened)) == 4 * SLOTS
        export_dataset(reopened, tmp_path / "export")
    files = [*store.data_dir.rglob("*"), *(tmp_path / "export").rglob("*")]
    written = [p.read_bytes() for p in files if p.is_file()]
    assert any(b"anthropic" in data for data in written)  # the provenance went everywhere
    haystacks = [caplog.text.encode(), str(refused.value).encode(), printed, *written]
    for secret in (KEY, KEY + "-wrong"):
        assert not any(secret.encode() in hay for hay in haystacks)

"""The optional judge against the real loopback OpenAI-compatible server: it asks once per
expression that passed the automatic rules, in the KEYS protocol, retries failures, caches the
answers in the store's journal (a re-run asks nothing), and reads what it gets tolerantly (this
server answers sentences without scores: the verdict is "not decided", never a crash).
Embeddings come from the same server, so the module needs no model."""

from __future__ import annotations

import pytest

from chat_server import ChatServer
from conftest import SEEDS
from scenegraph.embedding import BASE_URL_ENV
from scenegraph.errors import ConfigError
from scenegraph.load import load_corpus
from scenegraph.quality import CheckOptions, JudgeOptions, run_checks
from scenegraph.quality.judge import JUDGE_RULES
from scenegraph.graph.ladybug import LadybugStore

KEY = "sk-judge-test-key"
KEY_ENV = "SCENEGRAPH_JUDGE_TEST_KEY"


@pytest.fixture(scope="module")
def server():
    with ChatServer(latency_ms=5, require_key=KEY, embedding_dim=32) as running:
        yield running


@pytest.fixture
def store(server, tmp_path, monkeypatch):
    server.reset()
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv(BASE_URL_ENV, server.base_url)
    store = LadybugStore(tmp_path / "store")
    load_corpus(store, [SEEDS / "extra.json"])
    yield store
    store.close()


def options(server, **judge) -> CheckOptions:
    settings = dict(model="chat-server-test", base_url=server.base_url, api_key_env=KEY_ENV,
                    backoff_s=0.01, concurrency=4)
    return CheckOptions(model="openai:judge-embed", judge=JudgeOptions(**{**settings, **judge}))


def chat_requests(server) -> list[dict]:
    return [e for e in server.log() if e["path"] == "/v1/chat/completions"]


def test_the_judge_asks_once_per_accepted_expression_and_caches_the_answers(server, store):
    report = run_checks(store, options(server))
    asked = chat_requests(server)
    judge = report.judge
    assert judge.requested == len(asked) == report.passed > 0
    assert judge.cached == 0 and judge.failed == 0 and judge.unreadable == judge.requested
    for entry in asked:
        prompt = entry["body"]["messages"][-1]["content"]
        assert entry["headers"]["authorization"] == f"Bearer {KEY}"
        assert prompt.rstrip().endswith(f'KEYS: ["{JUDGE_RULES[0]}", "{JUDGE_RULES[1]}", '
                                        f'"{JUDGE_RULES[2]}", "{JUDGE_RULES[3]}"]')
        assert "Expression (" in prompt and "Scene Δ9" in prompt
    judged = [e for e in store.expressions() if e.passed]
    assert all(e.quality["judge"]["pass"] is None and "no readable scores" in
               e.quality["judge"]["reason"] for e in judged)

    server.reset()
    again = run_checks(store, options(server))
    assert again.checked == 0 and chat_requests(server) == []   # nothing changed at all
    forced = run_checks(store, options(server).model_copy(update={"force": True}))
    assert chat_requests(server) == []                            # the journal answers
    assert forced.judge.cached == forced.passed and forced.judge.requested == 0


def test_failed_requests_are_retried(server, store):
    server.set_faults(fail_first=3, kinds=["500"], retry_after_s=0.01)
    report = run_checks(store, options(server))
    assert report.judge.failed == 0
    assert len(chat_requests(server)) == report.judge.requested + 3


def test_without_a_key_the_judge_stops_before_any_work(server, store, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=KEY_ENV):
        run_checks(store, options(server))
    assert server.log() == [] and all(e.quality is None for e in store.expressions())

"""The checks on both stores (the contract): the same corpus gets the same verdicts, stored the
same way, in LadybugDB and in a real Neo4j 5.26; a re-run on either writes nothing.
Embeddings come from the loopback server, so no model is needed."""

from __future__ import annotations

import pytest

from chat_server import ChatServer
from conftest import SEEDS
from scenegraph.embedding import BASE_URL_ENV
from scenegraph.load import load_corpus
from scenegraph.quality import CheckOptions, run_checks

OPTIONS = CheckOptions(model="openai:stores-embed", compress="50%")


@pytest.fixture(scope="module")
def server():
    with ChatServer(embedding_dim=48) as running:
        yield running


@pytest.fixture(autouse=True)
def endpoint(server, monkeypatch):
    monkeypatch.setenv(BASE_URL_ENV, server.base_url)


def _checked(store) -> tuple[dict, dict]:
    load_corpus(store, [SEEDS / "extra.json", SEEDS / "records.jsonl"])
    report = run_checks(store, OPTIONS)
    verdicts = {e.id: (e.passed, e.quality) for e in store.expressions()}
    return report.model_dump(exclude={"store", "elapsed_s"}), verdicts


def test_both_stores_reach_the_same_verdicts(ladybug_store, neo4j_store):
    embedded_report, embedded = _checked(ladybug_store)
    server_report, server = _checked(neo4j_store)
    assert embedded == server
    assert embedded_report == server_report
    assert embedded_report["written"] == len(embedded) > 50
    for store in (ladybug_store, neo4j_store):
        again = run_checks(store, OPTIONS)
        assert (again.checked, again.written) == (0, 0)

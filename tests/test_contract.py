"""One contract, both stores: the same corpus gives the same graph on LadybugDB and Neo4j."""

from __future__ import annotations

import pytest

from conftest import ROOT, SEEDS
from scenegraph.graph.copy import copy_graph
from scenegraph.errors import ReadOnlyViolation
from scenegraph.hyperlexeme import parse_in_store
from scenegraph.load import load_corpus
from scenegraph.graph.schema import statements
from scenegraph.graph.ladybug import LadybugStore

EXAMPLES = sorted((ROOT / "cypher" / "examples").glob("*.cypher"))


@pytest.fixture(scope="module")
def reference(seeded_store):
    """The seeds in an embedded store: what every backend must reproduce."""
    return seeded_store


@pytest.fixture
def seeded(store):
    load_corpus(store, [SEEDS])
    return store


def test_same_corpus_same_counts(seeded, reference):
    assert seeded.counts() == reference.counts()


def test_reload_is_idempotent(seeded, reference):
    load_corpus(seeded, [SEEDS])
    assert seeded.counts() == reference.counts()


def test_same_scenes_and_expressions(seeded, reference):
    assert list(seeded.scenes()) == list(reference.scenes())
    assert seeded.expressions() == reference.expressions()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_queries_return_the_same_rows(seeded, reference, path):
    (statement,) = statements(path)
    ours, theirs = seeded.run(statement), reference.run(statement)
    assert ours.rows == theirs.rows and ours.rows
    assert ours.columns == theirs.columns


@pytest.mark.parametrize("statement", [
    "CREATE (n:Scene {id: 'x'})", "MATCH (n:Scene) SET n.title = 'x'", "MATCH (n) DETACH DELETE n",
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row", "CALL db.labels()",
    "CALL dbms.components()",
])
def test_read_only_refusal(seeded, statement):
    before = seeded.counts()
    with pytest.raises(ReadOnlyViolation):
        seeded.run(statement)
    assert seeded.counts() == before


def test_fractal_subtree(seeded, reference):
    for root in ("Δ31", "Δ90", "Δ17"):
        assert seeded.subtree(root) == reference.subtree(root)
    assert len(seeded.subtree("Δ31")) >= 5


def test_hyperlexeme_parse(seeded, reference):
    for word in ("жартишинавход", "тишинашагвнутрижар"):
        assert parse_in_store(seeded, word) == parse_in_store(reference, word)


def test_copy_round_trip_embedded_neo4j_embedded(reference, neo4j_store, tmp_path):
    copy_graph(reference, neo4j_store)
    back = LadybugStore(tmp_path / "back")
    copy_graph(neo4j_store, back)
    assert back.counts() == neo4j_store.counts() == reference.counts()
    assert list(back.scenes()) == list(reference.scenes())
    assert back.expressions() == reference.expressions()
    back.close()

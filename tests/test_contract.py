"""One contract, both stores: the same corpus gives the same graph on LadybugDB and Neo4j."""

from __future__ import annotations

import pytest

from conftest import ROOT, SEEDS
from scenegraph.graph.copy import copy_graph
from scenegraph.errors import ReadOnlyViolation, StoreError
from scenegraph.graph.batch import GraphBatch
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


def test_the_load_report_counts_what_the_store_holds(store):
    first = load_corpus(store, [SEEDS])  # into an empty store: counted from what was written
    assert first.counts == store.counts() and first.counts["Scene"] > 0
    again = load_corpus(store, [SEEDS])  # into a full one: counted by the store
    assert again.counts == store.counts() == first.counts


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


def test_typed_reads_answer_the_same_on_both_stores(seeded, reference):
    """The reads the layers above call instead of writing Cypher: same answers on each backend."""
    assert not seeded.is_empty()
    ids = seeded.scene_ids()
    assert ids == reference.scene_ids() and ids == sorted(ids)
    assert seeded.content_hashes(ids[:20] + ["no-such-scene"]) == \
        reference.content_hashes(ids[:20] + ["no-such-scene"])
    assert len(seeded.content_hashes(ids[:20])) == 20
    assert sorted(seeded.contains_edges()) == sorted(reference.contains_edges())
    assert seeded.expression_texts() == reference.expression_texts()
    wanted = ids[:5] + ["no-such-scene"]
    assert sorted(seeded.labels("scene", wanted)) == sorted(reference.labels("scene", wanted))
    assert len(seeded.labels("scene", wanted)) == 5
    first = [t.id for t in seeded.expression_texts()[:3]]
    assert sorted(seeded.labels("expression", first)) == sorted(reference.labels("expression", first))
    assert seeded.scenes_evoking(["порог"]) == reference.scenes_evoking(["порог"]) != set()
    window = ids[10:30]
    tail = "MATCH (s)-[:HAS]->(c:Component) RETURN s.id, c.key ORDER BY s.id, c.key"
    rows = seeded.window_rows(tail, window)
    assert rows == reference.window_rows(tail, window)
    assert {row[0] for row in rows} <= set(window) and rows
    assert seeded.window_rows(tail, window, dense=True) == rows  # ids[10:30] is a dense window


def test_is_empty_before_a_load(store):
    assert store.is_empty()
    load_corpus(store, [SEEDS])
    assert not store.is_empty()


def test_a_store_opened_read_only_refuses_writes_before_they_run(seeded, reference):
    """Opened read-only (as the explorer and `export` open it), a store refuses a write even
    when the caller asks for one, and the graph stays as it was."""
    before = seeded.counts()
    if seeded.dialect == "neo4j":
        from scenegraph.graph.neo4j import Neo4jStore

        readonly = Neo4jStore(seeded.uri, read_only=True, user=seeded.user,
                              password=seeded._password)
    else:
        seeded.close()
        readonly = LadybugStore(seeded.data_dir, read_only=True)
    try:
        with pytest.raises((ReadOnlyViolation, StoreError)):
            readonly.run("CREATE (n:Scene {id: 'x'})", write=True)
        batch = GraphBatch()
        batch.node("Archetype", name="written-through-a-read-only-store")
        with pytest.raises((ReadOnlyViolation, StoreError)):
            readonly.upsert(batch)
        assert readonly.counts() == before == reference.counts()
    finally:
        readonly.close()

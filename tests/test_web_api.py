"""The explorer's JSON API, asked over HTTP of a real `scenegraph serve` on a seeded store."""

from __future__ import annotations

import importlib.util
import io
import zipfile

import httpx
import pytest
import yaml

from conftest import ROOT, require
from scenegraph.cli.serve import is_loopback
from scenegraph.graph.ladybug import LadybugStore
from web_server import XSS_EXPRESSION, XSS_ID, ExplorerServer, WriterHolder, build_store, ok

FACTS = yaml.safe_load((ROOT / "tests" / "data" / "seed_facts.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-api") / "store"
    build_store(folder)
    return folder


@pytest.fixture(scope="module")
def truth(store_dir):
    """The same store, read directly, for the answers the API must match."""
    store = LadybugStore(store_dir, read_only=True)
    yield store
    store.close()


@pytest.fixture(scope="module")
def server(store_dir):
    with ExplorerServer(store_dir) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        yield http


def test_stats_match_the_store(client, truth):
    stats = ok(client.get("/api/stats"))
    assert stats["counts"] == truth.counts()
    assert "порог" in stats["facets"]["archetypes"]
    assert "<i>poet</i>" in stats["facets"]["styles"]


def test_search_by_scene_id(client):
    hits = ok(client.get("/api/search", params={"q": "Δ42"}))["hits"]
    assert hits[0]["id"] == "Δ42" and "id" in hits[0]["by"]


@pytest.mark.parametrize("form", sorted(FACTS["fused_hyperlexemes"])[:8])
def test_search_by_stored_hyperlexeme(client, form):
    hits = ok(client.get("/api/search", params={"q": form}))["hits"]
    assert hits[0]["id"] == FACTS["fused_hyperlexemes"][form]["scene"]
    assert "hyperlexeme" in hits[0]["by"]


def test_search_parses_an_unseen_fused_word(client):
    """снег + тишина + вдох in another order is stored nowhere; parsing finds Δ48."""
    result = ok(client.get("/api/search", params={"q": "вдохснегтишина"}))
    parsed = [h for h in result["hits"] if any("parsed as" in r for r in h["reasons"])]
    assert parsed[0]["id"] == "Δ48"


def test_search_without_a_vector_index_says_what_to_do(client):
    result = ok(client.get("/api/search", params={"q": "a mechanic under a lorry in the rain"}))
    assert any("scenegraph embed" in n or "not available" in n for n in result["notices"])


def test_scene_detail_has_components_expressions_and_family(client, truth):
    detail = ok(client.get("/api/scene", params={"id": "Δ31.1"}))
    scene = truth.scene("Δ31.1")
    assert detail["scene"]["components"] == [c.model_dump() for c in scene.components]
    assert detail["scene"]["archetypes"] == scene.archetypes
    shown = sorted(e["id"] for g in detail["groups"] for e in g["expressions"])
    assert shown == sorted(e.id for e in truth.expressions(["Δ31.1"]))
    relations = {(r["relation"], r["id"]) for r in detail["related"]}
    assert ("parent", "Δ31") in relations
    assert {("part", p) for p in scene.parts} <= relations


def test_expressions_are_grouped_by_style_and_register(client):
    groups = ok(client.get("/api/scene", params={"id": XSS_ID}))["groups"]
    assert [(g["style"], g["register"]) for g in groups] == [("<i>poet</i>", "poetry")]
    assert groups[0]["expressions"][0]["text"] == XSS_EXPRESSION


def test_unknown_scene_is_404(client):
    response = client.get("/api/scene", params={"id": "Δ-nowhere"})
    assert response.status_code == 404 and "Δ-nowhere" in response.json()["error"]


def test_node_detail_counts_linked_scenes(client, truth):
    detail = ok(client.get("/api/node", params={"label": "Archetype", "key": "порог"}))
    expected = truth.run("MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: 'порог'}) "
                         "RETURN s.id ORDER BY s.id").column()
    assert detail["scene_count"] == len(expected)
    assert sorted(n["key"] for n in detail["scenes"]) == expected


def test_expand_gives_every_neighbour_with_its_edge(client, truth):
    graph = ok(client.get("/api/expand", params={"label": "Scene", "key": "Δ31", "limit": 500}))
    scene = truth.scene("Δ31")
    keys = {n["id"] for n in graph["nodes"]}
    assert {f"Component:{c.key}" for c in scene.components} <= keys
    assert {f"Archetype:{a}" for a in scene.archetypes} <= keys
    assert {f"Scene:{p}" for p in scene.parts + scene.leads_to} <= keys
    contains = {(e["source"], e["target"]) for e in graph["edges"] if e["type"] == "CONTAINS"}
    assert contains == {("Scene:Δ31", f"Scene:{p}") for p in scene.parts}
    assert not graph["truncated"]


def test_expand_points_edges_into_the_node(client):
    graph = ok(client.get("/api/expand", params={"label": "Scene", "key": "Δ31.1"}))
    contains = {(e["source"], e["target"]) for e in graph["edges"] if e["type"] == "CONTAINS"}
    assert ("Scene:Δ31", "Scene:Δ31.1") in contains


def test_expand_respects_the_limit_and_says_so(client):
    graph = ok(client.get("/api/expand", params={"label": "Scene", "key": "Δ31", "limit": 2}))
    assert len(graph["nodes"]) == 2 and graph["truncated"] and graph["notices"]


def test_expand_from_a_component_reaches_its_scenes(client, truth):
    graph = ok(client.get("/api/expand", params={"label": "Component", "key": "field:тишина"}))
    expected = truth.run("MATCH (s:Scene)-[:HAS]->(:Component {key: 'field:тишина'}) "
                         "RETURN s.id").column()
    assert sorted(n["key"] for n in graph["nodes"]) == sorted(expected)


def test_expand_rejects_an_unknown_label(client):
    response = client.get("/api/expand", params={"label": "Scene) DETACH DELETE (x", "key": "a"})
    assert response.status_code == 400 and "unknown label" in response.json()["error"]


def test_similar_scenes_degrade_to_a_notice_without_an_index(client):
    graph = ok(client.get("/api/expand", params={"label": "Scene", "key": "Δ31", "by": "semantic"}))
    assert graph["nodes"] == [] and graph["notices"]


def test_cypher_answers_a_table_and_the_graph_found(client):
    answer = ok(client.post("/api/cypher", json={
        "query": "MATCH p = (a:Scene {id: 'Δ31'})-[:CONTAINS]->(b:Scene) RETURN a.id, b, p"}))
    assert answer["columns"] == ["a.id", "b", "p"]
    parts = sorted(row[1]["id"] for row in answer["rows"])
    nodes = {n["id"] for n in answer["graph"]["nodes"]}
    assert nodes == {"Scene:Δ31", *(f"Scene:{p}" for p in parts)}
    edges = {(e["source"], e["target"], e["type"]) for e in answer["graph"]["edges"]}
    assert {("Scene:Δ31", f"Scene:{p}", "CONTAINS") for p in parts} <= edges


@pytest.mark.parametrize("query", [
    "CREATE (:Scene {id: 'written'})",
    "MATCH (s:Scene {id: 'Δ31'}) SET s.title = 'changed'",
    "MATCH (s:Scene {id: 'Δ31'}) DETACH DELETE s",
    "MATCH (s:Scene) RETURN s.id; CREATE (:Scene {id: 'written'})",
    "COPY Scene FROM 'elsewhere.csv'",
])
def test_cypher_refuses_writes(client, truth, query):
    response = client.post("/api/cypher", json={"query": query})
    assert response.status_code == 403
    assert "refused" in response.json()["error"]
    assert truth.scene("Δ31").title == "Порог"
    assert truth.scene("written") is None


def test_cypher_error_is_a_clear_400(client):
    response = client.post("/api/cypher", json={"query": "MATCH (s:Nowhere) RETURN s"})
    assert response.status_code == 400 and response.json()["error"]


def test_filter_keeps_scenes_of_an_archetype(client, truth):
    ids = ["Δ31", "Δ31.1", "Δ42", "Δ60"]
    expected = truth.run("UNWIND $ids AS i MATCH (s:Scene {id: i})-[:EVOKES]->"
                         "(:Archetype {name: 'порог'}) RETURN s.id", {"ids": ids}).column()
    answer = ok(client.post("/api/filter", json={"scene_ids": ids, "archetype": "порог"}))
    assert answer["ids"] == sorted(expected) and 0 < len(expected) < len(ids)


def test_export_of_a_selection_is_a_zip(client):
    require(importlib.util.find_spec("scenegraph.export"), "scenegraph.export is missing")
    response = client.post("/api/export", json={"scene_ids": ["Δ31"]})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment")
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert any(name.endswith(".jsonl") for name in names), names


def test_export_needs_a_selection(client):
    response = client.post("/api/export", json={"scene_ids": []})
    assert response.status_code == 400 and "select" in response.json()["error"]


def test_page_and_assets_are_served_with_a_strict_policy(client):
    require((ROOT / "scenegraph/web/static/dist/app.js").exists(),
            "the page is not built: run scripts/build-web.sh")
    page = client.get("/")
    assert page.status_code == 200 and 'id="cy"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert client.get("/static/dist/app.js").status_code == 200


def test_requests_for_another_host_are_refused(client):
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 cannot read the API."""
    assert client.get("/api/stats", headers={"Host": "evil.example"}).status_code == 400


def test_loopback_addresses_are_recognised():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.org"))


def test_token_is_required_on_the_api_when_set(store_dir):
    with ExplorerServer(store_dir, token="s3cret-token") as guarded:
        assert httpx.get(guarded.url("/api/stats")).status_code == 401
        wrong = httpx.get(guarded.url("/api/stats"), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert httpx.get(guarded.url("/api/stats"), headers=guarded.headers()).status_code == 200
        assert httpx.get(guarded.url("/")).status_code in (200, 503)  # the page holds no data


def test_a_writer_holding_the_lock_is_reported(tmp_path):
    folder = tmp_path / "store"
    build_store(folder)
    with ExplorerServer(folder) as server:
        assert httpx.get(server.url("/api/status")).json()["writer_pid"] is None
        writer = WriterHolder(folder)
        try:
            status = httpx.get(server.url("/api/status")).json()
            assert status["writer_pid"] == writer.pid
            assert f"PID {writer.pid}" in status["message"] and "write lock" in status["message"]
            assert httpx.get(server.url("/api/scene"), params={"id": "Δ31"}).status_code == 200
        finally:
            writer.release()
        status = httpx.get(server.url("/api/status")).json()
        assert status["writer_pid"] is None
        reloaded = httpx.post(server.url("/api/reload")).json()
        assert reloaded["writer_pid"] is None and not reloaded["changed"]
        assert reloaded["message"] is None

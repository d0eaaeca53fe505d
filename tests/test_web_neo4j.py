"""The explorer's API over Neo4j: the same answers as on the embedded store, writes refused."""

from __future__ import annotations

import httpx
import pytest

from conftest import SEEDS
from scenegraph.load import load_corpus
from scenegraph.graph.neo4j import Neo4jStore
from web_server import ExplorerServer, ok

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def neo4j_seeded(neo4j_server):
    store = Neo4jStore(neo4j_server.uri, user=neo4j_server.user, password=neo4j_server.password)
    store.run("MATCH (n) DETACH DELETE n", write=True)
    load_corpus(store, [SEEDS])
    yield store
    store.close()


@pytest.fixture(scope="module")
def client(neo4j_server, neo4j_seeded, tmp_path_factory):
    env = {"NEO4J_USER": neo4j_server.user, "NEO4J_PASSWORD": neo4j_server.password,
           "SCENEGRAPH_HOME": str(tmp_path_factory.mktemp("home"))}
    with ExplorerServer(neo4j_server.uri, env=env) as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            yield http


def test_status_and_counts(client, neo4j_seeded):
    status = ok(client.get("/api/status"))
    assert status["dialect"] == "neo4j" and status["writer_pid"] is None
    assert ok(client.get("/api/stats"))["counts"] == neo4j_seeded.counts()


def test_search_by_id_and_hyperlexeme(client):
    assert ok(client.get("/api/search", params={"q": "Δ42"}))["hits"][0]["id"] == "Δ42"
    hits = ok(client.get("/api/search", params={"q": "жартишинавход"}))["hits"]
    assert hits[0]["id"] == "Δ42"


def test_scene_detail(client, neo4j_seeded):
    detail = ok(client.get("/api/scene", params={"id": "Δ31.1"}))
    scene = neo4j_seeded.scene("Δ31.1")
    assert detail["scene"]["components"] == [c.model_dump() for c in scene.components]
    shown = sorted(e["id"] for g in detail["groups"] for e in g["expressions"])
    assert shown == sorted(e.id for e in neo4j_seeded.expressions(["Δ31.1"]))
    assert ("parent", "Δ31") in {(r["relation"], r["id"]) for r in detail["related"]}


def test_expand_and_node_detail(client, neo4j_seeded):
    graph = ok(client.get("/api/expand", params={"label": "Scene", "key": "Δ31"}))
    scene = neo4j_seeded.scene("Δ31")
    keys = {n["id"] for n in graph["nodes"]}
    assert {f"Component:{c.key}" for c in scene.components} <= keys
    assert {f"Scene:{p}" for p in scene.parts} <= keys
    node = ok(client.get("/api/node", params={"label": "Archetype", "key": "порог"}))
    expected = neo4j_seeded.run("MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: 'порог'}) "
                                "RETURN count(s)").rows[0][0]
    assert node["scene_count"] == expected


def test_cypher_table_graph_and_refusal(client, neo4j_seeded):
    answer = ok(client.post("/api/cypher", json={
        "query": "MATCH p = (a:Scene {id: 'Δ31'})-[:CONTAINS]->(b:Scene) RETURN a.id, b, p"}))
    parts = sorted(row[1]["id"] for row in answer["rows"])
    nodes = {n["id"] for n in answer["graph"]["nodes"]}
    assert nodes == {"Scene:Δ31", *(f"Scene:{p}" for p in parts)}
    assert len([e for e in answer["graph"]["edges"] if e["type"] == "CONTAINS"]) == len(parts)
    write = "MATCH (s:Scene {id: 'Δ31'}) SET s.title = 'x'"
    refused = client.post("/api/cypher", json={"query": write})
    assert refused.status_code == 403 and "refused" in refused.json()["error"]
    assert neo4j_seeded.scene("Δ31").title == "Порог"

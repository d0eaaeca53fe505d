"""Vector indexes beside the store: incremental embedding, model changes, atomic saves, HNSW.

Mechanics run with the loopback OpenAI-compatible endpoint (fast, deterministic vectors);
what needs real meaning runs with the packaged model.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from chat_server import ChatServer
from conftest import SEEDS
from scenegraph.embedding import PACKAGED_MODEL, Embedder, OpenAIEmbedder, default_embedder
from scenegraph.errors import VectorIndexError
from scenegraph.load import load_corpus
from scenegraph.models import Component, Scene
from scenegraph.neighbours import search
from scenegraph.vectors import (IndexMeta, embed_store, index_path, load_vectors, open_index,
                                plan_embed, scene_items, scene_text, store_embedder)

EDITED = {"Δ101": "An old man stands on the pier at dawn, counting the fishing boats.",
          "Δ42": "Жаркий полдень: кто-то молча входит в пустой дом."}
DELETED = "Δ112"


class Recording(Embedder):
    """A real embedder that remembers every text it was asked to embed."""

    def __init__(self, inner: Embedder):
        self.inner, self.name, self.backend, self.texts = inner, inner.name, inner.backend, []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        self.texts += texts
        return self.inner.embed(texts, batch_size)


@pytest.fixture(scope="module")
def server():
    with ChatServer(embedding_dim=32) as running:
        yield running


@pytest.fixture
def endpoint(server):
    """An embedder for the loopback endpoint; call it with a model name."""
    return lambda model="vectors-test": OpenAIEmbedder(model, base_url=server.base_url)


@pytest.fixture
def seeded(ladybug_store):
    """The seeds in a fresh embedded store of this test's own."""
    load_corpus(ladybug_store, [SEEDS])
    return ladybug_store


def edit_and_delete(store) -> None:
    for scene_id, text in EDITED.items():
        store.run("MATCH (s:Scene {id: $id}) SET s.text = $text", {"id": scene_id, "text": text},
                  write=True)
    store.run("MATCH (s:Scene {id: $id}) DETACH DELETE s", {"id": DELETED}, write=True)


def test_scene_text_names_every_part_in_a_fixed_order():
    scene = Scene(id="Δ1", title="Tide", text="An old man listens to the tide.",
                  components=[Component(kind="tone", name="stillness"),
                              Component(kind="agent", name="old man")],
                  archetypes=["waiting", "return"], hyperlexemes=["oldmantide"])
    shuffled = scene.model_copy(update={"components": scene.components[::-1],
                                        "archetypes": scene.archetypes[::-1]})
    assert scene_text(scene) == scene_text(shuffled) == (
        "An old man listens to the tide.\nagent: old man\ntone: stillness\n"
        "archetypes: return, waiting\nhyperlexemes: oldmantide")
    assert scene_text(Scene(id="Δ2", title="Only a title")) == "Only a title"
    assert scene_text(Scene(id="Δ3")) == ""


def test_first_embed_indexes_scenes_and_active_expressions_then_nothing(store, endpoint):
    load_corpus(store, [SEEDS])  # each backend in turn
    report = embed_store(store, endpoint())
    scenes, expressions = report.kinds
    expected_scenes = {item.id for item in scene_items(store)}
    assert (scenes.kind, scenes.total, scenes.new) == ("scene", len(expected_scenes),
                                                       len(expected_scenes))
    assert (expressions.total, expressions.new) == (304, 304)
    assert report.model == "openai:vectors-test" and report.dimension == 32
    ids, matrix = load_vectors(store, "scene")
    assert set(ids) == expected_scenes and matrix.shape == (len(ids), 32)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    stamps = {kind: index_path(store, kind).stat().st_mtime_ns for kind in ("scene", "expression")}

    again = embed_store(store, endpoint())
    assert [(k.new, k.changed, k.removed, k.written) for k in again.kinds] == [(0, 0, 0, False)] * 2
    assert {kind: index_path(store, kind).stat().st_mtime_ns for kind in stamps} == stamps


@pytest.mark.model
def test_incremental_embed_reembeds_exactly_the_changed_scenes(seeded, packaged):
    embed_store(seeded, packaged, kinds=["scene"])
    ids, before = load_vectors(seeded, "scene")
    edit_and_delete(seeded)

    recording = Recording(packaged)
    report = embed_store(seeded, recording, kinds=["scene"])
    assert sorted(recording.texts) == sorted(scene_text(scene) for scene in seeded.scenes(EDITED))
    (kind,) = report.kinds
    assert (kind.new, kind.changed, kind.removed, kind.unchanged) == (0, 2, 1, len(ids) - 3)

    index = open_index(seeded, "scene")
    assert DELETED not in index and len(index) == len(ids) - 1
    old = dict(zip(ids, before))
    for scene_id in index.ids:
        now = index.vectors([scene_id])[0]
        if scene_id in EDITED:
            assert not np.allclose(now, old[scene_id], atol=1e-3)
        else:
            assert np.array_equal(now, old[scene_id])  # untouched, bit for bit
    for scene in seeded.scenes(EDITED):
        assert np.allclose(index.vectors([scene.id])[0], packaged.embed([scene_text(scene)])[0],
                           atol=1e-4)


def test_model_change_rebuilds_with_a_clear_message(seeded, endpoint):
    embed_store(seeded, endpoint("model-a"), kinds=["scene"])
    report = embed_store(seeded, endpoint("model-b"), kinds=["scene"])
    (kind,) = report.kinds
    assert kind.rebuilt == "model changed from openai:model-a to openai:model-b"
    assert kind.new == kind.total and kind.unchanged == 0
    assert open_index(seeded, "scene").meta.model == "openai:model-b"

    assert plan_embed(seeded, kinds=["scene"]).embedder.name == "openai:model-b"
    with pytest.raises(VectorIndexError, match="built with openai:model-b.*scenegraph embed"):
        search(seeded, "an old man by the sea", embedder=endpoint("model-a"))


@pytest.mark.model
def test_backend_change_rebuilds_and_queries_follow_the_recorded_backend(seeded, packaged):
    embed_store(seeded, packaged, kinds=["scene"])
    assert open_index(seeded, "scene").meta.backend == "torch"
    report = embed_store(seeded, default_embedder(None, "onnx"), kinds=["scene"])
    (kind,) = report.kinds
    assert kind.rebuilt == "backend changed from torch to onnx" and kind.unchanged == 0
    assert report.backend == "onnx" and open_index(seeded, "scene").meta.backend == "onnx"

    plan = plan_embed(seeded, kinds=["scene"])  # no embedder: the recorded model and backend
    assert (plan.embedder.name, plan.embedder.backend, plan.pending) == (PACKAGED_MODEL, "onnx", 0)
    assert store_embedder(seeded, PACKAGED_MODEL, kinds=["scene"]).backend == "onnx"
    hits = search(seeded, "an old man listens to the sea at dusk", k=3)
    assert len(hits) == 3  # the query embedder is the index's: onnx, not the default
    with pytest.raises(VectorIndexError, match="on onnx, not .* on torch.*--backend torch"):
        search(seeded, "an old man by the sea", embedder=packaged)


def test_indexes_from_before_backends_read_as_torch_or_remote():
    old = {"kind": "scene", "dimension": 4, "index_type": "exact", "count": 0}
    assert IndexMeta.model_validate({**old, "model": PACKAGED_MODEL}).backend == "torch"
    assert IndexMeta.model_validate({**old, "model": "openai:m"}).backend is None


def test_crash_mid_save_leaves_the_previous_index_usable(seeded, endpoint, monkeypatch):
    embed_store(seeded, endpoint(), kinds=["scene"])
    before = open_index(seeded, "scene")
    ids, hashes = list(before.ids), list(before.hashes)
    edit_and_delete(seeded)

    def crash(*_args):  # the temporary file is complete; the process dies before the rename
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        embed_store(seeded, endpoint(), kinds=["scene"])
    monkeypatch.undo()

    survivor = open_index(seeded, "scene")
    assert survivor.ids == ids and survivor.hashes == hashes and DELETED in survivor
    assert survivor.search(survivor.vectors([ids[0]]), 1)[0][0][0] == ids[0]
    assert sorted(p.name for p in index_path(seeded, "scene").parent.iterdir()) == ["scene.npz"]
    (kind,) = embed_store(seeded, endpoint(), kinds=["scene"]).kinds
    assert (kind.changed, kind.removed) == (2, 1)


def test_hnsw_above_the_threshold_and_exact_below_without_reembedding(seeded, endpoint):
    embed_store(seeded, endpoint(), kinds=["scene"])
    recording = Recording(endpoint())
    (kind,) = embed_store(seeded, recording, kinds=["scene"], hnsw_threshold=10).kinds
    assert kind.index_type == "hnsw" and kind.written and recording.texts == []
    index = open_index(seeded, "scene")
    query = index.vectors(["Δ101"])
    exact_top = [index.ids[i] for i in np.argsort(-(index.vectors() @ query[0]))[:5]]
    assert [item_id for item_id, _ in index.search(query, 5)[0]] == exact_top

    (kind,) = embed_store(seeded, recording, kinds=["scene"]).kinds
    assert kind.index_type == "exact" and recording.texts == []


def test_missing_index_says_to_run_embed(seeded):
    with pytest.raises(VectorIndexError, match="run `scenegraph embed`"):
        load_vectors(seeded, "expression")
    with pytest.raises(VectorIndexError, match="run `scenegraph embed`"):
        search(seeded, "anything")


def test_unreadable_index_is_reported_and_rebuilt(seeded, endpoint):
    path = index_path(seeded, "scene")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an index")
    with pytest.raises(VectorIndexError, match="unreadable"):
        open_index(seeded, "scene")
    (kind,) = embed_store(seeded, endpoint(), kinds=["scene"]).kinds
    assert kind.rebuilt.startswith("the old index could not be read")
    assert len(open_index(seeded, "scene")) == kind.total == kind.new


def test_expressions_are_searchable_by_their_text(seeded, endpoint):
    embed_store(seeded, endpoint(), kinds=["expression"])
    expression = seeded.expressions(["Δ101"])[0]
    hits = search(seeded, expression.text, k=3, embedder=endpoint(), kind="expression")
    assert hits[0].id == expression.id and hits[0].score == pytest.approx(1.0, abs=1e-5)
    ids, matrix = load_vectors(seeded, "expression")
    assert np.allclose(matrix[ids.index(expression.id)], endpoint().embed([expression.text])[0])

"""Embedding backends: the packaged model on ONNX Runtime (fp32 and int8) against torch.

The ONNX files are made from the packaged model on first use (never downloaded) and cached
beside it; the vectors must agree with torch's on the seeds within the bench's bound (mean
cosine >= 0.99; the fp32 export to rounding).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SEEDS
from scenegraph.cli import cli
from scenegraph.embedding import PACKAGED_MODEL, default_embedder, packaged_model_path
from scenegraph.embedding_backends import BACKENDS, DEFAULT_BACKEND
from scenegraph.embedding_onnx import FILES, OnnxEmbedder, cache_folder, ensure_files
from scenegraph.errors import ConfigError
from scenegraph.vectors import scene_items


@pytest.fixture(scope="module")
def seed_texts(seeded_store):
    return [item.text for item in scene_items(seeded_store)]


@pytest.fixture(scope="module")
def torch_vectors(packaged, seed_texts):
    return packaged.embed(seed_texts)


@pytest.mark.model
@pytest.mark.parametrize("backend, mean_bound, min_bound", [("onnx", 0.99999, 0.9999),
                                                            ("onnx-int8", 0.99, 0.95)])
def test_onnx_vectors_agree_with_torch_on_the_seeds(backend, mean_bound, min_bound, seed_texts,
                                                    torch_vectors):
    embedder = default_embedder(PACKAGED_MODEL, backend)
    assert isinstance(embedder, OnnxEmbedder) and embedder.backend == backend
    vectors = embedder.embed(seed_texts, batch_size=16)
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert cosines.mean() >= mean_bound and cosines.min() >= min_bound, (cosines.mean(),
                                                                          cosines.min())
    # One text alone gets its batched vector within the same bound (int8 activations are
    # scaled per batch, so there it is close, not equal).
    alone = embedder.embed(seed_texts[:1])
    assert float(alone[0] @ vectors[0]) >= min_bound
    assert embedder.embed([]).shape == (0, embedder.dimension) and embedder.dimension == 384


@pytest.mark.model
def test_onnx_files_are_made_once_and_cached_beside_the_model(packaged):
    folder = cache_folder(str(packaged_model_path()))
    assert folder.parent == packaged_model_path()  # site-packages is writable here
    for backend in ("onnx", "onnx-int8"):
        default_embedder(None, backend).embed(["warm"])
    stamps = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert {"manifest.json", "tokenizer.json", *FILES.values()} <= set(stamps)
    assert (folder / FILES["onnx-int8"]).stat().st_size < (folder / FILES["onnx"]).stat().st_size
    assert not [name for name in stamps if name.endswith(".tmp")]  # renamed into place whole
    for backend in FILES:
        model_file, manifest = ensure_files(str(packaged_model_path()), backend, folder)
        assert model_file == folder / FILES[backend] and manifest.dimension == 384
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == stamps


def test_a_model_known_by_name_caches_under_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = cache_folder("sentence-transformers/all-MiniLM-L6-v2")
    assert folder.parent == tmp_path / "scenegraph" / "onnx"
    assert folder.name.startswith("sentence-transformers-all-MiniLM-L6-v2-")


def test_backends_are_named_and_checked():
    assert BACKENDS == ("torch", "onnx", "onnx-int8") and DEFAULT_BACKEND in BACKENDS
    with pytest.raises(ConfigError, match="unknown embedding backend 'tensorrt'.*torch"):
        default_embedder(None, "tensorrt")
    # A remote endpoint runs its model its own way: no backend of ours.
    assert default_embedder("openai:text-embedding-3-small", "onnx").backend is None


@pytest.mark.model
def test_embed_command_takes_a_backend_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SCENEGRAPH_EMBED_BACKEND", raising=False)
    store = tmp_path / "store"

    def run(*args: str):
        return CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)

    assert run("load", str(SEEDS)).exit_code == 0
    first = json.loads(run("embed", "--kind", "scene", "--backend", "onnx", "--json").output)
    assert first["backend"] == "onnx" and first["kinds"][0]["new"] > 0
    again = json.loads(run("embed", "--kind", "scene", "--json").output)  # the recorded one
    assert again["backend"] == "onnx" and again["kinds"][0]["new"] == 0
    table = run("embed", "--kind", "scene", "--backend", "onnx-int8").output
    assert "rebuilt: backend changed from onnx to onnx-int8" in table and "onnx-int8)" in table
    bad = run("embed", "--backend", "gpu")
    assert bad.exit_code == 2 and "'gpu' is not one of 'torch', 'onnx', 'onnx-int8'" in bad.output

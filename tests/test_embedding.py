"""Embedders: the packaged sentence-transformers model and an OpenAI-compatible endpoint."""

from __future__ import annotations


import numpy as np
import pytest

from chat_server import ChatServer
from scenegraph.embedding import (PACKAGED_MODEL, OpenAIEmbedder, SentenceTransformerEmbedder,
                                  default_embedder, packaged_model_path)
from scenegraph.errors import ConfigError, ProviderError

API_KEY = "sk-embed-test"
TEXTS = ["An old man listens to the tide at dusk.",
         "At nightfall an elderly man waits by the sea, hearing the waves.",
         "A mechanic tightens a bolt under a truck in the rain.",
         "Старик слушает море на закате."]


@pytest.fixture(scope="module")
def server():
    with ChatServer(require_key=API_KEY, embedding_dim=48) as running:
        yield running


def unit_rows(vectors: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5))


@pytest.mark.model
def test_packaged_model_is_found_in_site_packages(packaged):
    folder = packaged_model_path()
    assert folder.name == "model" and "site-packages" in folder.parts
    assert (folder / "model.safetensors").is_file()
    assert packaged.name == PACKAGED_MODEL and packaged.location == str(folder)


@pytest.mark.model
def test_packaged_model_embeds_unit_float32_rows(packaged):
    vectors = packaged.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    assert packaged.dimension == 384 and unit_rows(vectors)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3  # paraphrase closer than another scene
    assert np.allclose(packaged.embed(TEXTS[1:2]), vectors[1:2], atol=1e-5)
    assert packaged.embed([]).shape == (0, 384)


@pytest.mark.model
def test_model_is_loaded_once_per_process(packaged):
    assert default_embedder().model is packaged.model
    assert default_embedder(PACKAGED_MODEL).model is packaged.model


def test_unknown_model_fails_with_a_next_step_and_no_download(tmp_path):
    with pytest.raises(ConfigError, match="huggingface-cli download"):
        _ = SentenceTransformerEmbedder("no-such-org/no-such-model-xyz").dimension
    with pytest.raises(ConfigError, match="cannot load"):
        _ = default_embedder(str(tmp_path)).dimension  # an empty folder is not a model


def test_openai_embedder_against_a_real_endpoint(server):
    embedder = OpenAIEmbedder("test-embed", base_url=server.base_url, api_key=API_KEY,
                              batch_size=2)
    server.reset()
    vectors = embedder.embed(TEXTS)
    batches = [len(entry["body"]["input"]) for entry in server.log()]
    assert batches == [2, 2]  # batch_size texts per request
    assert embedder.name == "openai:test-embed" and embedder.dimension == 48
    assert vectors.shape == (len(TEXTS), 48) and vectors.dtype == np.float32
    assert unit_rows(vectors)
    one_by_one = np.vstack([embedder.embed([text]) for text in TEXTS])
    assert np.allclose(vectors, one_by_one)  # batching keeps the order


def test_openai_spec_reads_the_environment(server, monkeypatch):
    monkeypatch.setenv("SCENEGRAPH_EMBED_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    embedder = default_embedder("openai:test-embed")
    assert isinstance(embedder, OpenAIEmbedder) and embedder.base_url == server.base_url
    assert embedder.embed(TEXTS[:1]).shape == (1, 48)


def test_openai_errors_are_provider_errors(server):
    wrong_key = OpenAIEmbedder("test-embed", base_url=server.base_url, api_key="sk-wrong")
    with pytest.raises(ProviderError, match="SCENEGRAPH_EMBED_BASE_URL"):
        wrong_key.embed(["hello"])


def test_openai_without_endpoint_or_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("SCENEGRAPH_EMBED_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIEmbedder("text-embedding-3-small").embed(["hello"])

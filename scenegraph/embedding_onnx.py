"""ONNX Runtime backends for sentence-transformers models: ``onnx`` and ``onnx-int8``.

sentence-transformers' own ONNX backend needs optimum's exporter, which pins transformers 4.x,
so the export is done here: the whole model (transformer, pooling, dense and normalise
modules) is traced once with ``torch.onnx.export`` and run by ONNX Runtime with the model's
own fast tokenizer. ``onnx-int8`` is that graph dynamically quantised by ONNX Runtime
(``MatMul`` weights per channel, as unsigned bytes: see ``quantise``).

The files are made from the local model on first use, never downloaded, and cached in an
``onnx-scenegraph/`` folder beside the model when that folder is writable, else under
``$XDG_CACHE_HOME/scenegraph/onnx/`` (``~/.cache``). A file lock serialises the export between
processes and every file is renamed into place whole, so a second process waits and then
reuses what the first made. The manifest records the model files it was made from; when they
change, the files are made again.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from .embedding import DEFAULT_BATCH_SIZE, Embedder, load_sentence_transformer, model_dimension
from .errors import ConfigError

CACHE_FOLDER = "onnx-scenegraph"
FORMAT = 2  # 2: int8 weights unsigned on every CPU (files of format 1 are made again)
OPSET = 17
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


class Manifest(BaseModel):
    """What the runtime needs without loading torch: inputs, lengths, the output size."""

    format: int = FORMAT
    source: str  # fingerprint of the model files the export was made from
    inputs: list[str]
    max_length: int
    pad_id: int
    pad_token: str
    pad_type_id: int
    dimension: int


class OnnxEmbedder(Embedder):
    """A sentence-transformers model run by ONNX Runtime (``backend`` onnx or onnx-int8)."""

    def __init__(
        self,
        location: str,
        backend: str,
        name: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ):
        if backend not in FILES:
            raise ConfigError(f"unknown ONNX backend {backend!r}: use one of {', '.join(FILES)}")
        self.location, self.backend = location, backend
        self.name = name or location
        self.batch_size = batch_size

    @property
    def runtime(self) -> OnnxRuntime:
        """The session and tokenizer (made, or read from the cache, once per process)."""
        return _load_runtime(self.location, self.backend)

    @property
    def dimension(self) -> int:
        return self.runtime.manifest.dimension

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        runtime = self.runtime
        return np.vstack(
            [
                runtime.run(texts[start : start + batch_size])
                for start in range(0, len(texts), batch_size)
            ]
        )


class OnnxRuntime:
    """An ONNX Runtime session with the tokenizer that feeds it."""

    def __init__(self, model_file: Path, manifest: Manifest, tokenizer_file: Path):
        import onnxruntime as ort  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = _cores()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        self.manifest = manifest
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(manifest.max_length)
        self.tokenizer.enable_padding(
            pad_id=manifest.pad_id, pad_token=manifest.pad_token, pad_type_id=manifest.pad_type_id
        )

    def run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.manifest.inputs}
        return self.session.run(None, feed)[0]


def _cores() -> int:
    """CPUs this process may use (its affinity), so threads match what the OS grants."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# -- making the files -----------------------------------------------------------------------


@cache
def _load_runtime(location: str, backend: str) -> OnnxRuntime:
    missing = [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"--backend {backend} needs {' and '.join(missing)}: pip install 'scenegraph[onnx]' "
            "(or use --backend torch)"
        )
    folder = cache_folder(location)
    model_file, manifest = ensure_files(location, backend, folder)
    return OnnxRuntime(model_file, manifest, folder / "tokenizer.json")


def cache_folder(location: str) -> Path:
    """``onnx-scenegraph/`` beside a writable model folder, else a per-model user cache."""
    model = Path(location)
    if model.is_dir() and os.access(model, os.W_OK):
        return model / CACHE_FOLDER
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", location).strip("-")[-60:]
    digest = hashlib.sha256(location.encode()).hexdigest()[:12]
    return base / "scenegraph" / "onnx" / f"{slug}-{digest}"


def ensure_files(location: str, backend: str, folder: Path) -> tuple[Path, Manifest]:
    """The model file for ``backend`` and the manifest, made first if missing or stale."""
    source = _fingerprint(location)
    target = folder / FILES[backend]
    manifest = _read_manifest(folder, source)
    if manifest is not None and target.is_file():
        return target, manifest
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the ONNX cache {folder} ({exc}): set XDG_CACHE_HOME to a "
            "writable folder, or use --backend torch"
        ) from exc
    with _locked(folder / ".lock"):
        manifest = _read_manifest(folder, source)  # another process may have made it
        if manifest is None:  # none yet, or made from other model files: make all again
            for name in FILES.values():
                (folder / name).unlink(missing_ok=True)
            manifest = _export(location, folder, source)
        if not target.is_file():
            with _replaced(target) as temporary:
                quantise(folder / FILES["onnx"], temporary)
    return target, manifest


def _read_manifest(folder: Path, source: str) -> Manifest | None:
    """The cached manifest when it is whole, current and made from these model files."""
    try:
        manifest = Manifest.model_validate_json((folder / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    fresh = manifest.format == FORMAT and manifest.source == source
    return manifest if fresh and (folder / FILES["onnx"]).is_file() else None


def _fingerprint(location: str) -> str:
    """Names, sizes and times of the model folder's files (the name alone for a cache name)."""
    model = Path(location)
    if not model.is_dir():
        return location
    entries = sorted(
        (str(path.relative_to(model)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in model.rglob("*")
        if path.is_file() and CACHE_FOLDER not in path.parts
    )
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _replaced(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it only when the block succeeds."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _export(location: str, folder: Path, source: str) -> Manifest:
    """Trace the loaded sentence-transformers model to ONNX; save its tokenizer beside it."""
    import torch

    model = load_sentence_transformer(location, "cpu")
    first = model[0]
    tokenizer: Any = getattr(first, "tokenizer", None)
    backend_tokenizer = getattr(tokenizer, "backend_tokenizer", None)
    if backend_tokenizer is None:
        raise ConfigError(
            f"the embedding model {location!r} has no fast tokenizer, which the ONNX "
            "backends need: use --backend torch"
        )
    features = model.preprocess(["a short text", "a somewhat longer text to pad the first"])
    inputs = [name for name, value in features.items() if isinstance(value, torch.Tensor)]
    fixed = {name: value for name, value in features.items() if name not in inputs}
    graph = _traceable(model, inputs, fixed)
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in inputs}
    with _replaced(folder / FILES["onnx"]) as temporary, torch.inference_mode():
        torch.onnx.export(
            graph,
            tuple(features[name] for name in inputs),
            str(temporary),
            input_names=inputs,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    backend_tokenizer.save(str(folder / "tokenizer.json"))
    manifest = Manifest(
        source=source,
        inputs=inputs,
        max_length=int(model.max_seq_length or tokenizer.model_max_length),
        pad_id=int(tokenizer.pad_token_id or 0),
        pad_token=str(tokenizer.pad_token or "[PAD]"),
        pad_type_id=int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
        dimension=model_dimension(model),
    )
    with _replaced(folder / "manifest.json") as temporary:
        temporary.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest


def _traceable(model: Any, inputs: list[str], fixed: dict[str, Any]) -> Any:
    """The model's forward pass over positional tensors, returning the sentence vector (the
    shape ``torch.onnx.export`` traces); non-tensor features are fixed at their traced value."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model({**dict(zip(inputs, tensors)), **fixed})["sentence_embedding"]

    return SentenceEmbedding().eval()


def quantise(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the ``MatMul`` weights, per output channel, as unsigned
    bytes on every CPU: signed ones (symmetric, a bit less resolution) ran faster on AVX-512
    VNNI but moved the seeds' vectors to a mean cosine of 0.9899 with torch's, under the 0.99
    the backend must keep; unsigned ones keep 0.991 there and on AVX2 alike, and the file no
    longer depends on the CPU that made it."""
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    logging.disable(logging.WARNING)  # the quantiser's advice to pre-process is not for users
    try:
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QUInt8,
        )
    finally:
        logging.disable(logging.NOTSET)

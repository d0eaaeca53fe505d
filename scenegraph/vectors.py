"""Vector indexes beside the store: one FAISS index per kind (scenes, expressions).

Each index is one file, ``<store.data_dir>/vectors/<kind>.npz``: the FAISS index, the graph id
and content hash of every row (row i of the index is ``ids[i]``), and metadata (the model's
name, the backend that ran it, the dimension, the index type). Rows are L2-normalised, so
inner product is cosine. Below ``hnsw_threshold`` rows the index is exact (``IndexFlatIP``);
from there on it is HNSW.

Saving is atomic: the new file is written beside the old one, flushed to disk and renamed over
it, so a crash mid-save leaves the previous index whole and usable.

``embed_store`` embeds only what is new or changed since the last run — decided by a hash of
the text that gets embedded — drops what left the graph, and embeds everything again when the
model or its backend changes (their vectors differ slightly; one index never mixes them).
``plan_embed`` is its first half, for callers that want the amount of work up front (a progress
bar's total).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple, cast

import faiss
import numpy as np
from pydantic import BaseModel, model_validator

from .embedding import DEFAULT_BATCH_SIZE, OPENAI_PREFIX, Embedder, default_embedder
from .errors import ConfigError, VectorIndexError
from .graph.base import Progress, Store
from .models import COMPONENT_KINDS, Scene
from .text import content_hash

Kind = Literal["scene", "expression"]
IndexType = Literal["exact", "hnsw"]
KINDS: tuple[Kind, ...] = ("scene", "expression")
HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_SEARCH = 64
CHUNK_BATCHES = 16  # batches per embedder call: the progress step
FORMAT = 1


# -- what gets embedded ---------------------------------------------------------------------


class Item(NamedTuple):
    id: str
    text: str
    hash: str


def scene_text(scene: Scene) -> str:
    """The text embedded for a scene: its text (or title), components by role, archetypes,
    hyperlexemes — one per line, in a fixed order."""
    lines = [scene.text or scene.title or ""]
    lines += [
        f"{kind}: {', '.join(names)}"
        for kind in COMPONENT_KINDS
        if (names := sorted(scene.component_names(kind)))
    ]
    if scene.archetypes:
        lines.append("archetypes: " + ", ".join(sorted(scene.archetypes)))
    if scene.hyperlexemes:
        lines.append("hyperlexemes: " + ", ".join(sorted(scene.hyperlexemes)))
    return "\n".join(line for line in lines if line)


def _item(item_id: str, text: str) -> Item:
    return Item(item_id, text, content_hash(text))


def scene_items(store: Store) -> list[Item]:
    """Every scene that has something to embed (a scene known only by id has not)."""
    return [_item(scene.id, text) for scene in store.scenes() if (text := scene_text(scene))]


def expression_items(store: Store) -> list[Item]:
    """Every active expression, by its own text."""
    return [_item(expr_id, text) for expr_id, text in store.expression_texts() if text]


SOURCES: dict[str, Callable[[Store], list[Item]]] = {
    "scene": scene_items,
    "expression": expression_items,
}


# -- one index --------------------------------------------------------------------------------


class IndexMeta(BaseModel):
    kind: Kind
    model: str
    backend: str | None  # embedding.BACKENDS; None for a remote endpoint
    dimension: int
    index_type: IndexType
    count: int
    format: int = FORMAT

    @model_validator(mode="before")
    @classmethod
    def _before_backends(cls, data: Any) -> Any:
        """Indexes written before backends existed ran local models on torch."""
        if isinstance(data, dict) and "backend" not in data:
            remote = str(data.get("model", "")).startswith(OPENAI_PREFIX)
            data = {**data, "backend": None if remote else "torch"}
        return data


def index_type_for(count: int, hnsw_threshold: int = HNSW_THRESHOLD) -> IndexType:
    return "hnsw" if count >= hnsw_threshold else "exact"


def _new_faiss_index(index_type: IndexType, dimension: int) -> faiss.Index:
    if index_type == "hnsw":
        return faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexFlatIP(dimension)


class VectorIndex:
    """A FAISS index whose rows are graph ids; search returns ids and cosine scores."""

    def __init__(self, meta: IndexMeta, ids: list[str], hashes: list[str], index: faiss.Index):
        if not (index.ntotal == len(ids) == len(hashes) == meta.count) or index.d != meta.dimension:
            raise VectorIndexError(
                f"the {meta.kind} index is inconsistent ({index.ntotal} "
                f"vectors, {len(ids)} ids): run `scenegraph embed` to "
                "rebuild it"
            )
        self.meta, self.ids, self.hashes, self.index = meta, ids, hashes, index
        self.position = {item_id: row for row, item_id in enumerate(ids)}
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = HNSW_EF_SEARCH

    @classmethod
    def build(
        cls,
        kind: Kind,
        model: str,
        dimension: int,
        ids: list[str],
        hashes: list[str],
        vectors: np.ndarray,
        hnsw_threshold: int = HNSW_THRESHOLD,
        backend: str | None = None,
    ) -> VectorIndex:
        index_type = index_type_for(len(ids), hnsw_threshold)
        index = _new_faiss_index(index_type, dimension)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        meta = IndexMeta(
            kind=kind,
            model=model,
            backend=backend,
            dimension=dimension,
            index_type=index_type,
            count=len(ids),
        )
        return cls(meta, list(ids), list(hashes), index)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.position

    def _row(self, item_id: str) -> int:
        try:
            return self.position[item_id]
        except KeyError:
            raise VectorIndexError(
                f"no {self.meta.kind} vector for {item_id}: run `scenegraph embed`"
            ) from None

    def vector(self, item_id: str) -> np.ndarray:
        """The stored (unit-length) vector of one id, as a 1 × dimension row."""
        # faiss's stubs pick the torch overload when no output array is given.
        return cast(np.ndarray, self.index.reconstruct(self._row(item_id)))[None, :]

    def vectors(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """The stored (unit-length) vectors of ``ids``, in that order; all rows when None."""
        if ids is None:
            return self.index.reconstruct_n(0, len(self))
        rows = np.array([self._row(item_id) for item_id in ids], dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.meta.dimension), dtype=np.float32)
        return self.index.reconstruct_batch(rows)

    def search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """For each query row, up to ``k`` (id, cosine) pairs, best first."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, len(self))
        if k <= 0:
            return [[] for _ in range(len(queries))]
        # faiss's __init__.pyi lacks SearchParametersHNSW, which swigfaiss exports.
        params = (
            faiss.SearchParametersHNSW(efSearch=k)  # type: ignore[attr-defined]
            if self.meta.index_type == "hnsw" and k > HNSW_EF_SEARCH
            else None
        )
        scores, rows = self.index.search(queries, k, params=params)
        ids = self.ids
        return [
            [(ids[row], float(score)) for row, score in zip(row_ids, row_scores) if row >= 0]
            for row_ids, row_scores in zip(rows.tolist(), scores.tolist())
        ]

    def extended(self, ids: list[str], hashes: list[str], vectors: np.ndarray) -> VectorIndex:
        """A copy with rows added; this index (perhaps in use elsewhere) stays as it is."""
        index = faiss.clone_index(self.index)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        meta = self.meta.model_copy(update={"count": len(self) + len(ids)})
        return VectorIndex(meta, self.ids + list(ids), self.hashes + list(hashes), index)

    def save(self, path: Path) -> None:
        """Write atomically: the old file stays whole until the new one is complete."""
        arrays: dict[str, Any] = {
            "meta": np.array(self.meta.model_dump_json()),
            "ids": np.array(self.ids, dtype=str),
            "hashes": np.array(self.hashes, dtype=str),
            "index": faiss.serialize_index(self.index),
        }
        write_atomically(path, lambda out: np.savez(out, **arrays))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = IndexMeta.model_validate_json(str(data["meta"]))
                ids, hashes = data["ids"].tolist(), data["hashes"].tolist()
                index = faiss.deserialize_index(data["index"])
        except (OSError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile) as exc:
            raise VectorIndexError(
                f"the vector index {path} is unreadable ({exc}): "
                "run `scenegraph embed` to rebuild it"
            ) from exc
        if meta.format != FORMAT:
            raise VectorIndexError(
                f"the vector index {path} has format {meta.format}, not "
                f"{FORMAT}: run `scenegraph embed` to rebuild it"
            )
        return cls(meta, ids, hashes, index)


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through a temporary file in the same folder, fsync, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders can't be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


# -- indexes of a store -----------------------------------------------------------------------

# (store folder, kind) -> (index file, its signature when loaded, the index)
_loaded: dict[tuple[str, str], tuple[Path, tuple[int, int, int], VectorIndex]] = {}


def index_path(store: Store, kind: str) -> Path:
    if kind not in KINDS:
        raise ConfigError(f"unknown vector kind {kind!r}: use one of {', '.join(KINDS)}")
    return Path(store.data_dir) / "vectors" / f"{kind}.npz"


def _signature(path: Path) -> tuple[int, int, int]:
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def open_index(store: Store, kind: Kind = "scene") -> VectorIndex:
    """The store's index of ``kind``, loaded once and again only when the file changes."""
    cached = _loaded.get((str(store.data_dir), kind))
    path = cached[0] if cached is not None else index_path(store, kind)
    try:
        signature = _signature(path)
    except FileNotFoundError:
        raise VectorIndexError(
            f"no {kind} vectors for the store {store.uri}: run `scenegraph embed` first"
        ) from None
    if cached is not None and cached[1] == signature:
        return cached[2]
    index = VectorIndex.load(path)
    _loaded[(str(store.data_dir), kind)] = (path, signature, index)
    return index


def _save(store: Store, kind: Kind, index: VectorIndex) -> None:
    path = index_path(store, kind)
    index.save(path)
    _loaded[(str(store.data_dir), kind)] = (path, _signature(path), index)


def load_vectors(store: Store, kind: Kind = "scene") -> tuple[list[str], np.ndarray]:
    """Every id of the index of ``kind`` and its unit-length vector (row i is ids[i])."""
    index = open_index(store, kind)
    return list(index.ids), index.vectors()


# -- embedding a store ------------------------------------------------------------------------


class KindReport(BaseModel):
    kind: Kind
    total: int  # vectors in the index after the run
    new: int
    changed: int
    removed: int
    unchanged: int
    index_type: IndexType
    written: bool
    rebuilt: str | None = None  # why everything was embedded again


class EmbedReport(BaseModel):
    model: str
    backend: str | None
    dimension: int
    kinds: list[KindReport]


@dataclass
class KindPlan:
    """What one kind needs: the items now in the graph against the index on disk."""

    kind: Kind
    items: list[Item]
    previous: VectorIndex | None
    rebuilt: str | None = None
    todo: list[Item] = field(init=False)
    kept: set[str] = field(init=False)
    changed: int = field(init=False)
    removed: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.replan()

    def replan(self, rebuilt: str | None = None) -> None:
        """Split items into kept and to-do; ``rebuilt`` (a reason) drops the previous index."""
        if rebuilt:
            self.previous, self.rebuilt = None, rebuilt
        previous = self.previous
        old = dict(zip(previous.ids, previous.hashes)) if previous is not None else {}
        current = {item.id for item in self.items}
        self.kept = {item.id for item in self.items if old.get(item.id) == item.hash}
        self.todo = [item for item in self.items if item.id not in self.kept]
        self.changed = sum(1 for item in self.todo if item.id in old)
        self.removed = [item_id for item_id in old if item_id not in current]

    def embed(self, embedder: Embedder, batch_size: int, progress: Progress | None) -> np.ndarray:
        """Vectors of the to-do items (the model is not touched when there are none)."""
        if self.todo:
            return embed_items(embedder, self.todo, batch_size, progress)
        dimension = (
            self.previous.meta.dimension if self.previous is not None else embedder.dimension
        )
        return np.zeros((0, dimension), dtype=np.float32)

    def updated_index(
        self, embedder: Embedder, vectors: np.ndarray, hnsw_threshold: int
    ) -> VectorIndex | None:
        """The index after this run, or None when the one on disk is already right."""
        previous = self.previous
        ids, hashes = [i.id for i in self.todo], [i.hash for i in self.todo]
        model, backend = embedder.name, embedder.backend
        if previous is None:
            return VectorIndex.build(
                self.kind, model, vectors.shape[1], ids, hashes, vectors, hnsw_threshold, backend
            )
        same_type = previous.meta.index_type == index_type_for(len(self.items), hnsw_threshold)
        if same_type and not self.removed and not self.changed:
            return previous.extended(ids, hashes, vectors) if ids else None
        kept = [item_id for item_id in previous.ids if item_id in self.kept]
        kept_hashes = [previous.hashes[previous.position[item_id]] for item_id in kept]
        return VectorIndex.build(
            self.kind,
            model,
            vectors.shape[1],
            kept + ids,
            kept_hashes + hashes,
            np.vstack([previous.vectors(kept), vectors]),
            hnsw_threshold,
            backend,
        )

    def report(self, index: VectorIndex, written: bool) -> KindReport:
        return KindReport(
            kind=self.kind,
            total=len(index),
            new=len(self.todo) - self.changed,
            changed=self.changed,
            removed=len(self.removed),
            unchanged=len(self.kept),
            index_type=index.meta.index_type,
            written=written,
            rebuilt=self.rebuilt,
        )


@dataclass
class EmbedPlan:
    """The work ``embed_store`` will do; ``pending`` items need the model."""

    store: Store
    embedder: Embedder
    kinds: list[KindPlan]

    @property
    def pending(self) -> int:
        return sum(len(plan.todo) for plan in self.kinds)

    def run(
        self,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
        hnsw_threshold: int = HNSW_THRESHOLD,
    ) -> EmbedReport:
        """Embed the pending items and save every index that changed."""
        if batch_size < 1 or hnsw_threshold < 1:
            raise ConfigError("batch size and HNSW threshold must be at least 1")
        reports, dimension = [], 0
        for plan in self.kinds:
            vectors = plan.embed(self.embedder, batch_size, progress)
            index = plan.updated_index(self.embedder, vectors, hnsw_threshold)
            if index is not None:
                _save(self.store, plan.kind, index)
            # No new index means the previous one is already right, so there is one.
            final = index if index is not None else cast(VectorIndex, plan.previous)
            dimension = dimension or final.meta.dimension
            reports.append(plan.report(final, written=index is not None))
        return EmbedReport(
            model=self.embedder.name,
            backend=self.embedder.backend,
            dimension=dimension,
            kinds=reports,
        )


def embed_items(
    embedder: Embedder, items: list[Item], batch_size: int, progress: Progress | None = None
) -> np.ndarray:
    """Vectors of ``items`` in their order; embedded longest first, so that each batch holds
    texts of similar length (short texts are not padded to long ones)."""
    order = sorted(range(len(items)), key=lambda i: len(items[i].text), reverse=True)
    out: np.ndarray | None = None
    step = batch_size * CHUNK_BATCHES
    for start in range(0, len(order), step):
        rows = order[start : start + step]
        vectors = embedder.embed([items[i].text for i in rows], batch_size)
        if out is None:
            out = np.empty((len(items), vectors.shape[1]), dtype=np.float32)
        out[rows] = vectors
        if progress:
            progress(len(rows))
    return cast(np.ndarray, out)  # None only for no items, which callers never pass


def _previous(store: Store, kind: Kind) -> tuple[VectorIndex | None, str | None]:
    """The index on disk (or None) and, when it can't be read, why it will be rebuilt."""
    if not index_path(store, kind).exists():
        return None, None
    try:
        return open_index(store, kind), None
    except VectorIndexError as exc:
        return None, f"the old index could not be read ({exc.__cause__ or exc})"


def recorded_meta(store: Store, kinds: Iterable[Kind] = KINDS) -> IndexMeta | None:
    """The metadata of the store's existing indexes (the first kind that has one)."""
    for kind in kinds:
        try:
            return open_index(store, kind).meta
        except VectorIndexError:
            continue
    return None


def store_embedder(
    store: Store,
    model: str | None = None,
    backend: str | None = None,
    kinds: Iterable[Kind] = KINDS,
) -> Embedder:
    """The embedder for new vectors: each of model and backend as given, else as the store's
    indexes recorded, else the default (the packaged model on ``DEFAULT_BACKEND``)."""
    meta = recorded_meta(store, kinds)
    if meta is not None and model in (None, meta.model):
        model, backend = meta.model, backend or meta.backend
    return default_embedder(model, backend)


def plan_embed(
    store: Store, embedder: Embedder | None = None, kinds: Iterable[Kind] = KINDS
) -> EmbedPlan:
    """Compare the graph with the indexes on disk. Without an embedder, the model and backend
    the indexes were built with are used (the defaults when there are none)."""
    kinds = list(dict.fromkeys(kinds))
    if embedder is None:
        embedder = store_embedder(store, kinds=kinds)
    plans = []
    for kind in kinds:
        previous, unreadable = _previous(store, kind)
        plan = KindPlan(kind, SOURCES[kind](store), previous, rebuilt=unreadable)
        if previous is not None and previous.meta.model != embedder.name:
            plan.replan(f"model changed from {previous.meta.model} to {embedder.name}")
        elif previous is not None and previous.meta.backend != embedder.backend:
            plan.replan(f"backend changed from {previous.meta.backend} to {embedder.backend}")
        elif previous is not None and plan.todo and previous.meta.dimension != embedder.dimension:
            plan.replan(f"dimension changed from {previous.meta.dimension} to {embedder.dimension}")
        plans.append(plan)
    return EmbedPlan(store, embedder, plans)


def embed_store(
    store: Store,
    embedder: Embedder | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    kinds: Iterable[Kind] = KINDS,
    hnsw_threshold: int = HNSW_THRESHOLD,
) -> EmbedReport:
    """Embed the store's scenes and expressions that are new or changed; see the module doc."""
    return plan_embed(store, embedder, kinds).run(batch_size, progress, hnsw_threshold)

"""k-NN: our `neighbours` / `search` path vs raw FAISS search on the same index; HNSW recall.

Clustered synthetic unit vectors (default 100,000 × 384, 1,000 clusters — uniform random
vectors are a worst case real embeddings never are) are saved as a store's scene index through
`VectorIndex` (HNSW at this size). Then, one query at a time, on the same FAISS object with the
same parameters, interleaved in blocks (best of `--repeat` per block, for a busy machine):

- `neighbours(store, id, k=10)` against the same work in raw FAISS: `reconstruct` the stored
  vector, `search` k + 1, map rows to ids, drop the scene itself;
- `search(store, text, k=10)` with the packaged model against `encode` + `search` + mapping;
- the same `neighbours` comparison on an exact index of `--exact` vectors;
- recall@10 of the HNSW index against exact inner-product search, for held-out queries.

    python bench/knn.py [--vectors 100000] [--queries 1000] [--texts 50] [--exact 20000]

Targets: query path >= 0.8 of raw FAISS; HNSW recall@10 >= 0.95 at 100k.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import _common  # noqa: F401  (puts the project on sys.path)
from _common import Result, report, stopwatch

import faiss
import numpy as np

from scenegraph.embedding import PACKAGED_MODEL, default_embedder
from scenegraph.neighbours import neighbours, search
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.vectors import VectorIndex, index_path, open_index

DIM, K = 384, 10


def clustered(count: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((clusters, DIM)).astype(np.float32)
    points = centres[rng.integers(0, clusters, count)] + \
        0.35 * rng.standard_normal((count, DIM)).astype(np.float32)
    faiss.normalize_L2(points)
    return points


def save_index(store, vectors: np.ndarray) -> VectorIndex:
    ids = [f"v{i}" for i in range(len(vectors))]
    index = VectorIndex.build("scene", PACKAGED_MODEL, DIM, ids, ["-"] * len(ids), vectors)
    index.save(index_path(store, "scene"))
    return open_index(store, "scene")


def interleaved(ours, raw, items: list, repeat: int, block: int) -> tuple[float, float]:
    """Seconds for all items through ``ours`` and ``raw``: per block of items, the best of
    ``repeat`` alternating runs of each (a busy machine inflates single runs)."""
    total_ours = total_raw = 0.0
    for start in range(0, len(items), block):
        part = items[start:start + block]
        times: dict = {ours: [], raw: []}
        for _ in range(repeat):
            for run in (ours, raw):
                with stopwatch() as t:
                    run(part)
                times[run].append(t[0])
        total_ours += min(times[ours])
        total_raw += min(times[raw])
    return total_ours, total_raw


def query_path(store, index: VectorIndex, ids: list[str], repeat: int, label: str) -> Result:
    """`neighbours` against the same work in raw FAISS: fetch the stored vector, search k + 1,
    map rows to ids, drop the scene itself."""
    faiss_index, position, row_ids = index.index, index.position, index.ids  # efSearch as ours

    def ours(part: list[str]) -> None:
        for item_id in part:
            neighbours(store, item_id, K)

    def raw(part: list[str]) -> None:
        for item_id in part:
            vector = faiss_index.reconstruct(position[item_id])[None, :]
            scores, rows = faiss_index.search(vector, K + 1)
            [(row_ids[r], s) for r, s in zip(rows[0], scores[0]) if r >= 0 and row_ids[r] != item_id]

    ours_s, raw_s = interleaved(ours, raw, ids, repeat, block=100)
    return Result(f"neighbours, {label} (queries/s)", len(ids) / ours_s, len(ids) / raw_s,
                  "queries/s", 0.8, note=f"k={K}, one query at a time, best of {repeat} per block")


def text_path(store, index: VectorIndex, texts: list[str], repeat: int) -> Result:
    """`search` of free text against `encode` + FAISS search + row-to-id mapping."""
    embedder = default_embedder()
    model, faiss_index, row_ids = embedder.model, index.index, index.ids
    search(store, texts[0], K)  # warm-up

    def ours(part: list[str]) -> None:
        for text in part:
            search(store, text, K, embedder=embedder)

    def raw(part: list[str]) -> None:
        for text in part:
            vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
            scores, rows = faiss_index.search(vector, K)
            [(row_ids[r], s) for r, s in zip(rows[0], scores[0]) if r >= 0]

    ours_s, raw_s = interleaved(ours, raw, texts, repeat, block=10)
    return Result("search free text (queries/s)", len(texts) / ours_s, len(texts) / raw_s,
                  "queries/s", 0.8, note=f"packaged model + HNSW, best of {repeat} per block")


def recall(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray) -> Result:
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, truth = exact.search(queries, K)
    found = index.search(queries, K)
    position = index.position
    hits = sum(len({position[i] for i, _ in row} & set(true_row.tolist()))
               for row, true_row in zip(found, truth))
    return Result(f"{index.meta.index_type} recall@{K} at {len(vectors)} vectors",
                  hits / truth.size, 1.0,
                  "recall", 0.95, note=f"{len(queries)} held-out queries; raw = exact search")


def sentences(count: int, rng: np.random.Generator) -> list[str]:
    words = ("old man sea dusk child house candle runner hill city light rain truck bolt train "
             "orange strangers meadow bees violin hall silence door threshold waiting").split()
    return [" ".join(rng.choice(words, size=int(rng.integers(6, 16)))) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--texts", type=int, default=50)
    parser.add_argument("--exact", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    folder = Path(tempfile.mkdtemp(prefix="bench-knn-"))
    results = []

    exact_store = LadybugStore(folder / "exact")
    exact_index = save_index(exact_store, clustered(args.exact, 200, rng))
    ids = [exact_index.ids[int(i)] for i in rng.integers(0, args.exact, args.queries)]
    results.append(query_path(exact_store, exact_index, ids, args.repeat,
                              f"exact, {args.exact} vectors"))

    store = LadybugStore(folder / "hnsw")
    data = clustered(args.vectors + args.queries, 1_000, rng)
    with stopwatch() as build:
        index = save_index(store, data[:args.vectors])
    ids = [index.ids[int(i)] for i in rng.integers(0, args.vectors, args.queries)]
    results.append(query_path(store, index, ids, args.repeat,
                              f"{index.meta.index_type}, {args.vectors} vectors"))
    results.append(recall(index, data[:args.vectors], data[args.vectors:]))
    results.append(text_path(store, index, sentences(args.texts, rng), args.repeat))
    print(f"{index.meta.index_type} build and save of {args.vectors} vectors: {build[0]:.1f} s")
    report(results)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

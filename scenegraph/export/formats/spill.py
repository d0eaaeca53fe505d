"""Rows held back until a split is complete, then given back in a seeded order.

Rows stream out of the graph a chunk of scenes at a time, so a split written as it comes is
grouped by scene: the first hundred rows cover a handful of scenes, and ``max_samples``,
streaming or "the first N rows" see a skewed sample. Each split of each format therefore spills
its rows, as they come, to a file in the export's hidden ``.spill/`` folder, with one 64-bit key
per row: a hash of the seed and the pair's id. On close the rows come back sorted by key. The
order so depends only on the seed and the rows (the same bytes on every run), is the same in
every format (row n of ``openai/train.jsonl`` is row n of ``parquet/train.parquet``), and costs
8 bytes of memory a row (lines 8 more per stream: their lengths) plus one block of rows. Spills
without keys (the corpus records, which are not training rows) come back in the order they came.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from array import array
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Self

import numpy as np
import pyarrow as pa

SPILL = ".spill"  # folder of the export being written; gone before the export is published
BLOCK_ROWS = 8192  # rows of a table spill given back at a time
BUCKET_BITS = 8
BUCKETS = 1 << BUCKET_BITS
# Lines spill LZ4-compressed: rows repeat their system prompt and scene, so a tenth of the
# bytes go to disk and back, for less time than writing and reading them whole.
SPILL_CODEC = pa.Codec("lz4")


def row_keys(seed: int, ids: Sequence[str]) -> list[int]:
    """The shuffle key of each row: the first 8 bytes of BLAKE2b over the seed and its id."""
    prefix, blake2b, from_bytes = f"{seed}\x00".encode(), hashlib.blake2b, int.from_bytes
    return [from_bytes(blake2b(prefix + id_.encode(), digest_size=8).digest()) for id_ in ids]


class Spill(ABC):
    """The rows of one file waiting for close, in arrival order, and their keys (if shuffled)."""

    def __init__(self, path: Path, shuffled: bool):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.keys: array | None = array("Q") if shuffled else None
        self.rows = 0

    def _add_keys(self, rows: int, keys: Sequence[int]) -> None:
        if self.keys is not None:
            if len(keys) != rows:
                raise ValueError(f"{rows} rows but {len(keys)} shuffle keys")
            self.keys.extend(keys)
        self.rows += rows

    def _order(self) -> np.ndarray:
        """Row numbers in the order they go out: by key (ties by arrival), or as they came."""
        if self.keys is None:
            return np.arange(self.rows)
        return np.argsort(np.frombuffer(self.keys, dtype=np.uint64), kind="stable")

    def _absorb_keys(self, other: Spill) -> None:
        if self.keys is not None and other.keys is not None:
            self.keys.extend(other.keys)
        self.rows += other.rows

    @abstractmethod
    def absorb(self, other: Self) -> None:
        """Take over another spill's rows (merging datasets); the other spill is gone after."""


class LineSpill(Spill):
    """Lines of JSON (each ending in a newline) in one file: a row's line in each stream (an
    OpenAI row and its sidecar line), side by side, so both files come from one spill.

    Shuffled rows go in by key bucket (the key's top BUCKET_BITS bits, ranges of keys in
    order): each ``add`` writes its rows grouped by bucket, one compressed segment per
    bucket, and keeps keys and line lengths in that (file) order. On close each bucket is read
    back whole, segment by segment, and sorted in memory; the buckets in turn give every row
    in key order (ties by arrival) with a few large reads rather than one per line. Unshuffled
    rows come back an ``add`` at a time, as they came."""

    def __init__(self, path: Path, shuffled: bool, streams: int = 1):
        super().__init__(path, shuffled)
        self.handle = path.open("wb")
        self.streams = streams
        self.size = 0
        self.lengths = array("Q")  # each row's line lengths, stream by stream, in file order
        # Per bucket (one when unshuffled): (byte offset, bytes packed, first row, rows), the
        # rows numbered in file order.
        self.segments: list[list[tuple[int, int, int, int]]] = [
            [] for _ in range(BUCKETS if shuffled else 1)
        ]

    def add(self, columns: Sequence[Sequence[bytes]], keys: Sequence[int]) -> None:
        """Spill rows: ``columns[s][i]`` is row i's line in stream s; ``keys`` their keys (in
        the rows' order), or none when unshuffled."""
        rows = len(columns[0])
        if len(columns) != self.streams or any(len(column) != rows for column in columns):
            raise ValueError(f"rows need a line in each of the {self.streams} streams")
        if self.keys is not None and len(keys) != rows:
            raise ValueError(f"{rows} rows but {len(keys)} shuffle keys")
        if not rows:
            return
        lines = list(zip(*columns))
        counts = [rows]
        if self.keys is not None:
            key_array = np.array(keys, dtype=np.uint64)
            buckets = (key_array >> np.uint64(64 - BUCKET_BITS)).astype(np.intp)
            order = np.argsort(buckets, kind="stable")
            counts = np.bincount(buckets, minlength=BUCKETS).tolist()
            lines = [lines[i] for i in order.tolist()]
            keys = key_array[order].tolist()
        flat = list(chain.from_iterable(lines))
        lengths = np.fromiter(map(len, flat), dtype=np.uint64, count=len(flat))
        row_bytes = lengths.reshape(rows, self.streams).sum(axis=1, dtype=np.uint64)
        ends = np.cumsum(row_bytes).tolist()
        data = memoryview(b"".join(flat))
        first = 0
        for bucket, n in enumerate(counts):
            if n:
                start = ends[first - 1] if first else 0
                packed = SPILL_CODEC.compress(data[start : ends[first + n - 1]], asbytes=True)
                segment = (self.size, len(packed), self.rows + first, n)
                self.segments[bucket].append(segment)
                self.handle.write(packed)
                self.size += len(packed)
                first += n
        self.lengths.frombytes(lengths.tobytes())
        self._add_keys(rows, keys)

    def absorb(self, other: Self) -> None:
        if other.streams != self.streams:
            raise ValueError(f"{other.streams} streams cannot join {self.streams}")
        other.handle.close()
        self.handle.write(other.path.read_bytes())
        for mine, theirs in zip(self.segments, other.segments):
            mine += [(at + self.size, n, first + self.rows, rows) for at, n, first, rows in theirs]
        self.lengths.extend(other.lengths)
        self.size += other.size
        self._absorb_keys(other)
        other.path.unlink()

    def blocks(self) -> Iterator[list[list[memoryview]]]:
        """The rows in their order, a bucket (or, unshuffled, an ``add``) at a time: per
        stream, its lines. The spill file is removed at the end.

        Read with ``pread`` rather than through a memory map, whose pages would count as the
        process's memory however large the file."""
        self.handle.close()
        lengths = np.frombuffer(self.lengths, dtype=np.uint64).astype(np.int64)
        lengths = lengths.reshape(-1, self.streams)
        keys = None if self.keys is None else np.frombuffer(self.keys, dtype=np.uint64)
        groups = self.segments if keys is not None else [[s] for s in self.segments[0]]
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for group in groups:
                if group:
                    rows = np.concatenate([np.arange(f, f + n) for _, _, f, n in group])
                    sizes = lengths[rows]
                    data = b"".join([_unpack(fd, segment, lengths) for segment in group])
                    yield _lines(data, sizes, None if keys is None else keys[rows])
        finally:
            os.close(fd)
        self.path.unlink()


def _unpack(fd: int, segment: tuple[int, int, int, int], lengths: np.ndarray) -> bytes:
    at, packed, first, rows = segment
    size = int(lengths[first : first + rows].sum())
    return SPILL_CODEC.decompress(os.pread(fd, packed, at), size, asbytes=True)


def _lines(data: bytes, sizes: np.ndarray, keys: np.ndarray | None) -> list[list[memoryview]]:
    """Rows laid out in ``data`` one after another (``sizes``: rows × streams), per stream, by
    key (ties in the order they lie) when there are keys. Views into ``data``: the lines are
    copied once, into the file's block."""
    view = memoryview(data)
    row_sizes = sizes.sum(axis=1)
    starts = np.cumsum(row_sizes) - row_sizes
    if keys is not None:
        order = np.argsort(keys, kind="stable")
        starts, sizes = starts[order], sizes[order]
    out = []
    for stream in range(sizes.shape[1]):
        ends = starts + sizes[:, stream]
        out.append([view[a:b] for a, b in zip(starts.tolist(), ends.tolist())])
        starts = ends
    return out


class TableSpill(Spill):
    """Arrow record batches in one IPC file, read back memory-mapped on close."""

    def __init__(self, path: Path, shuffled: bool, schema: pa.Schema):
        super().__init__(path, shuffled)
        self.sink = pa.OSFile(str(path), "wb")
        self.writer = pa.ipc.new_file(self.sink, schema)

    def add(self, table: pa.Table, keys: Sequence[int]) -> None:
        self._add_keys(table.num_rows, keys)
        self.writer.write_table(table)

    def _finish(self) -> None:
        self.writer.close()
        self.sink.close()

    def absorb(self, other: Self) -> None:
        other._finish()
        with pa.memory_map(str(other.path)) as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                self.writer.write_batch(reader.get_batch(index))
        self._absorb_keys(other)
        other.path.unlink()

    def blocks(self) -> Iterator[pa.Table]:
        """The rows in their order, a table of up to BLOCK_ROWS at a time; the file goes after.

        Each block gathers its rows batch by batch (``take`` on one record batch copies only the
        rows taken; on the whole memory-mapped table it would first join every batch)."""
        self._finish()
        order = self._order()
        with pa.memory_map(str(self.path)) as source:
            reader = pa.ipc.open_file(source)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
            starts = np.cumsum([0] + [batch.num_rows for batch in batches])
            for first in range(0, self.rows, BLOCK_ROWS):
                yield _gather(batches, starts, order[first : first + BLOCK_ROWS])
        self.path.unlink()


def _gather(batches: list[pa.RecordBatch], starts: np.ndarray, rows: np.ndarray) -> pa.Table:
    """The rows (numbers across all batches), in the order given, as one table."""
    batch_of = np.searchsorted(starts, rows, side="right") - 1
    by_batch = np.argsort(batch_of, kind="stable")
    rows, batch_of = rows[by_batch], batch_of[by_batch]
    cuts = np.flatnonzero(np.diff(batch_of)) + 1
    pieces = [
        batches[group[0]].take(wanted - starts[group[0]])
        for wanted, group in zip(np.split(rows, cuts), np.split(batch_of, cuts))
    ]
    back = np.empty_like(by_batch)
    back[by_batch] = np.arange(len(by_batch))
    return pa.Table.from_batches(pieces).combine_chunks().take(back)

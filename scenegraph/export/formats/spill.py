"""Rows held back until a split is complete, then given back in a seeded order.

Rows stream out of the graph a chunk of scenes at a time, so a split written as it comes is
grouped by scene: the first hundred rows cover a handful of scenes, and ``max_samples``,
streaming or "the first N rows" see a skewed sample. Each split of each format therefore spills
its rows, as they come, to a file in the export's hidden ``.spill/`` folder, with one 64-bit key
per row: a hash of the seed and the pair's id. On close the rows come back sorted by key. The
order so depends only on the seed and the rows (the same bytes on every run), is the same in
every format (row n of ``openai/train.jsonl`` is row n of ``parquet/train.parquet``), and costs
16 bytes of memory a row plus one block of rows. Spills without keys (the corpus records, which
are not training rows) come back in the order they came.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from array import array
from collections.abc import Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Self

import numpy as np
import pyarrow as pa

SPILL = ".spill"  # folder of the export being written; gone before the export is published
BLOCK_ROWS = 8192


def row_keys(seed: int, ids: Sequence[str]) -> list[int]:
    """The shuffle key of each row: the first 8 bytes of BLAKE2b over the seed and its id."""
    return [
        int.from_bytes(hashlib.blake2b(f"{seed}\x00{id_}".encode(), digest_size=8).digest())
        for id_ in ids
    ]


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
    """Lines of JSON (each ending in a newline) in one file, with where each one ends."""

    def __init__(self, path: Path, shuffled: bool):
        super().__init__(path, shuffled)
        self.handle = path.open("wb")
        self.ends = array("Q")
        self.size = 0

    def add(self, lines: list[bytes], keys: Sequence[int]) -> None:
        self._add_keys(len(lines), keys)
        ends = list(accumulate(map(len, lines), initial=self.size))
        self.ends.extend(ends[1:])
        self.size = ends[-1]
        self.handle.write(b"".join(lines))

    def absorb(self, other: Self) -> None:
        other.handle.close()
        self.handle.write(other.path.read_bytes())
        self.ends.extend(end + self.size for end in other.ends)
        self.size += other.size
        self._absorb_keys(other)
        other.path.unlink()

    def blocks(self) -> Iterator[list[bytes]]:
        """The lines in their order, a block at a time; the spill file is removed at the end.

        Read with one ``pread`` a line rather than through a memory map, whose pages would
        count as the process's memory however large the file."""
        self.handle.close()
        ends = np.frombuffer(self.ends, dtype=np.uint64).astype(np.int64)
        sizes = np.diff(ends, prepend=0)
        order = self._order()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for first in range(0, self.rows, BLOCK_ROWS):
                rows = order[first : first + BLOCK_ROWS]
                starts, lengths = (ends[rows] - sizes[rows]).tolist(), sizes[rows].tolist()
                yield [os.pread(fd, n, start) for start, n in zip(starts, lengths)]
        finally:
            os.close(fd)
        self.path.unlink()


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

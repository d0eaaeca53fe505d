"""Columnar formats: Parquet files, and a Hugging Face ``datasets`` folder (``save_to_disk``).

Both hold one row per pair: its id, direction, scenes, expression ids, voice and ``messages``
(the chat a trainer reads). Rows spill as Arrow batches and come out, in the seeded order, as
Parquet row groups or, for the ``datasets`` folder, through an Arrow stream per split that
becomes the dataset.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import Format, Output, Part
from .spill import TableSpill

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("direction", pa.string()),
        ("scene_ids", pa.list_(pa.string())),
        ("expression_id", pa.string()),
        ("source_expression_id", pa.string()),
        ("style", pa.string()),
        ("register", pa.string()),
        ("tone", pa.string()),
        ("form", pa.string()),
        ("target", pa.string()),
        ("lang", pa.string()),
        ("messages", pa.list_(MESSAGE)),
    ]
)


def pair_table(part: Part) -> pa.Table:
    rows = [{**meta, "messages": pair.messages()} for pair, meta in zip(part.pairs, part.meta)]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


class ColumnarFormat(Format):
    """Spills each split's rows as Arrow tables; ``finish`` writes them out in order."""

    def write(self, split: str, part: Part) -> None:
        if not part.pairs:
            return
        key = (split, "")
        if key not in self.spills:
            self.spills[key] = TableSpill(self.spill_path(split, ".arrow"), True, SCHEMA)
        spill = self.spills[key]
        assert isinstance(spill, TableSpill)
        spill.add(pair_table(part), part.keys)

    def close(self) -> list[Output]:
        outputs = []
        for split in self.splits():
            spill = self.spills[(split, "")]
            assert isinstance(spill, TableSpill)
            outputs.append(Output(split, self.finish(split, spill.blocks()), spill.rows))
        self.done([output.split for output in outputs])
        return outputs

    @abstractmethod
    def finish(self, split: str, blocks: Iterator[pa.Table]) -> str:
        """Write the split's rows, block by block; return the path its Output names."""

    def done(self, splits: list[str]) -> None:
        """After every split is written (a format made of all of them finishes here)."""


class ParquetFormat(ColumnarFormat):
    name = "parquet"

    def finish(self, split: str, blocks: Iterator[pa.Table]) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(
            self.folder / f"{split}.parquet",
            SCHEMA,
            compression="zstd" if self.options.compress == "zstd" else "snappy",
        ) as out:
            for block in blocks:
                out.write_table(block)
        return f"{self.relative}/{split}.parquet"


class HFFormat(ColumnarFormat):
    """A ``DatasetDict`` saved with ``save_to_disk``; load it with ``datasets.load_from_disk``.

    Each split's fingerprint is the SHA-256 of its rows, so the same export gives the same
    bytes (``datasets`` would otherwise draw a random one).
    """

    name = "hf"

    def _stream_path(self, split: str) -> Path:
        return self.spill_path(split, ".stream")

    def finish(self, split: str, blocks: Iterator[pa.Table]) -> str:
        with (
            pa.OSFile(str(self._stream_path(split)), "wb") as sink,
            pa.ipc.new_stream(sink, SCHEMA) as writer,
        ):
            for block in blocks:
                writer.write_table(block)
        return self.relative

    def done(self, splits: list[str]) -> None:
        if not splits:
            return
        import datasets

        quiet = not datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            tables = {split: self._dataset(datasets, split) for split in splits}
            datasets.DatasetDict(tables).save_to_disk(str(self.folder))
        finally:
            if not quiet:
                datasets.enable_progress_bars()
        for split in splits:
            self._stream_path(split).unlink()

    def _dataset(self, datasets, split: str):
        path = self._stream_path(split)
        loaded = datasets.Dataset.from_file(str(path))
        info = datasets.DatasetInfo(description=f"scenegraph export {self.options.name}, {split}")
        return datasets.Dataset(
            loaded.data, info=info, split=split, fingerprint=_file_sha256(path)[:16]
        )


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

"""Columnar formats: Parquet files, and a Hugging Face ``datasets`` folder (``save_to_disk``).

Both hold one row per pair: its id, direction, scenes, expression ids, voice and ``messages``
(the chat a trainer reads). Rows stream out a chunk at a time: Parquet as row groups, the
``datasets`` folder through an Arrow stream per split that becomes the dataset on close.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..options import ExportOptions
from . import Format, Output, Part

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
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for pair in part.pairs:
        expr = pair.expression
        values = (
            pair.id,
            pair.direction,
            expr.scene_ids,
            expr.id,
            pair.source.id if pair.source is not None else None,
            expr.style,
            expr.register,
            expr.tone,
            expr.form,
            expr.target,
            expr.lang,
            pair.messages(),
        )
        for name, value in zip(SCHEMA.names, values):
            columns[name].append(value)
    return pa.table(columns, schema=SCHEMA)


class ParquetFormat(Format):
    name = "parquet"

    def __init__(self, folder: Path, relative: str, options: ExportOptions):
        super().__init__(folder, relative, options)
        self.writers: dict[str, pq.ParquetWriter] = {}

    def write(self, split: str, part: Part) -> None:
        if not part.pairs:
            return
        if split not in self.writers:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.writers[split] = pq.ParquetWriter(
                self.folder / f"{split}.parquet",
                SCHEMA,
                compression="zstd" if self.options.compress == "zstd" else "snappy",
            )
        self.writers[split].write_table(pair_table(part))
        self.rows[split] = self.rows.get(split, 0) + len(part.pairs)

    def close(self) -> list[Output]:
        for writer in self.writers.values():
            writer.close()
        return [
            Output(split, f"{self.relative}/{split}.parquet", self.rows[split])
            for split in self.writers
        ]


class HFFormat(Format):
    """A ``DatasetDict`` saved with ``save_to_disk``; load it with ``datasets.load_from_disk``.

    Each split's fingerprint is the SHA-256 of its rows, so the same export gives the same
    bytes (``datasets`` would otherwise draw a random one).
    """

    name = "hf"

    def __init__(self, folder: Path, relative: str, options: ExportOptions):
        super().__init__(folder, relative, options)
        self.streams: dict[str, tuple[pa.NativeFile, pa.ipc.RecordBatchStreamWriter]] = {}

    def _stream_path(self, split: str) -> Path:
        return self.folder.with_name(f".{self.folder.name}-{split}.arrow")

    def write(self, split: str, part: Part) -> None:
        if not part.pairs:
            return
        if split not in self.streams:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            sink = pa.OSFile(str(self._stream_path(split)), "wb")
            self.streams[split] = (sink, pa.ipc.new_stream(sink, SCHEMA))
        self.streams[split][1].write_table(pair_table(part))
        self.rows[split] = self.rows.get(split, 0) + len(part.pairs)

    def close(self) -> list[Output]:
        for sink, writer in self.streams.values():
            writer.close()
            sink.close()
        if not self.streams:
            return []
        self._save()
        for split in self.streams:
            self._stream_path(split).unlink()
        return [Output(split, self.relative, self.rows[split]) for split in self.streams]

    def _save(self) -> None:
        import datasets

        quiet = not datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            splits = {split: self._dataset(datasets, split) for split in self.streams}
            datasets.DatasetDict(splits).save_to_disk(str(self.folder))
        finally:
            if not quiet:
                datasets.enable_progress_bars()

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

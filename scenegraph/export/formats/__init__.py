"""Output formats behind one small interface: ``write(split, part)`` as often as there are rows,
``close()`` once. Each format writes under its own folder of a dataset (``openai/``,
``parquet/``…) and reports, per split, where the rows went and how many there are.

Rows wait in spills (``spill.py``) until close, which writes them in the seeded order; a
dataset too small to stand alone can so still be merged into another (``absorb``) at the end.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Self, cast

import orjson
import zstandard

from ...graph.export import ExpressionRow, SceneView
from ..options import ExportOptions
from ..rows import Pair
from .spill import SPILL, LineSpill, Spill

ZSTD_LEVEL = 3
NEWLINE = orjson.OPT_APPEND_NEWLINE


@dataclass
class Part:
    """What one chunk gives one split of one dataset. ``keys`` holds each pair's shuffle key
    (``spill.row_keys``), set once by the router so that every format orders rows alike."""

    pairs: list[Pair] = field(default_factory=list)
    scenes: list[SceneView] = field(default_factory=list)
    expressions: list[ExpressionRow] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)

    @cached_property
    def meta(self) -> list[dict[str, Any]]:
        """``pair_meta`` of each pair, made once for all the formats that carry it."""
        return [pair_meta(pair) for pair in self.pairs]


@dataclass
class Output:
    """Rows of one split in one format, at ``path`` (relative to the export folder); ``sidecar``
    is a file beside it describing each row, where the format has no room for that."""

    split: str
    path: str
    rows: int
    sidecar: str | None = None


def pair_meta(pair: Pair) -> dict[str, Any]:
    """Where a row comes from: its id, direction, scenes, expressions and voice. Every format
    carries it: as columns, as extra keys of a row, or in a sidecar file."""
    expr = pair.expression
    return {
        "id": pair.id,
        "direction": pair.direction,
        "scene_ids": expr.scene_ids,
        "expression_id": expr.id,
        "source_expression_id": pair.source.id if pair.source is not None else None,
        "style": expr.style,
        "register": expr.register,
        "tone": expr.tone,
        "form": expr.form,
        "target": expr.target,
        "lang": expr.lang,
    }


class Format(ABC):
    name: ClassVar[str]
    shuffled: ClassVar[bool] = True  # rows of pairs; the corpus records keep their order

    def __init__(self, root: Path, relative: str, options: ExportOptions):
        self.folder = root / relative  # where this format writes, e.g. <staging>/openai
        self.relative = relative  # the same folder relative to the export folder
        self.options = options
        self.spill_dir = root / SPILL
        self.spills: dict[tuple[str, str], Spill] = {}  # (split, stream) -> rows waiting
        self.warnings: list[str] = []
        self.digests: dict[str, Any] = {}  # file written (relative path) -> its SHA-256 object

    def open_output(self, name: str) -> BinaryIO:
        """A new file of this format, behind a zstd stream when the export is compressed; its
        SHA-256 goes to ``digests``."""
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        hashed = HashedFile(path)
        self.digests[f"{self.relative}/{name}"] = hashed.sha256
        handle = cast(BinaryIO, hashed)  # it has what a writer is asked for
        if self.options.compress == "zstd":
            return zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(handle)
        return handle

    def spill_path(self, split: str, stream: str) -> Path:
        return self.spill_dir / f"{self.relative.replace('/', '~')}~{split}{stream}"

    @abstractmethod
    def write(self, split: str, part: Part) -> None:
        """Spill the part's rows for the split (opening its spill on first use)."""

    @abstractmethod
    def close(self) -> list[Output]:
        """Write every split's file from its spill; return one Output per split written."""

    def absorb(self, other: Self) -> None:
        """Take over the rows of the same format in another dataset (a style merged away)."""
        for key, spill in other.spills.items():
            if key in self.spills:
                self.spills[key].absorb(spill)
            else:
                self.spills[key] = spill
        self.warnings += other.warnings
        other.spills = {}

    def splits(self) -> list[str]:
        """The splits with rows, in the order the options name them."""
        return [split for split in self.options.ratios() if (split, "") in self.spills]


class JsonLinesFormat(Format):
    """One JSON object per line, one file per split, zstd-compressed with ``--compress zstd``.

    ``STREAMS`` names a split's files by suffix: ``""`` is the rows themselves; a format may
    add a sidecar (``.meta``) whose line n describes row n. A row's lines in every stream spill
    together and the files are written in one pass."""

    STREAMS: ClassVar[tuple[str, ...]] = ("",)

    def streams(self, part: Part) -> list[list[bytes]]:
        """The part's lines in each of ``STREAMS``, one per row."""
        return [self.lines(part)]

    @abstractmethod
    def lines(self, part: Part) -> list[bytes]:
        """The part's rows, each one line of JSON ending in a newline."""

    def write(self, split: str, part: Part) -> None:
        columns = self.streams(part)
        if not columns[0]:
            return
        key = (split, "")
        if key not in self.spills:
            path = self.spill_path(split, "")
            self.spills[key] = LineSpill(path, self.shuffled, len(self.STREAMS))
        spill = self.spills[key]
        assert isinstance(spill, LineSpill)
        spill.add(columns, part.keys if self.shuffled else ())

    def file_name(self, split: str, stream: str = "") -> str:
        return f"{split}{stream}.jsonl" + (".zst" if self.options.compress == "zstd" else "")

    def finish_block(self, stream: str, first_row: int, lines: list[memoryview]) -> bytes:
        """Spilled lines as they go into the file, the first being row ``first_row`` of it."""
        return b"".join(lines)

    def close(self) -> list[Output]:
        outputs = []
        sidecar = self.STREAMS[1] if len(self.STREAMS) > 1 else None
        for split in self.splits():
            self._write_files(split)
            outputs.append(
                Output(
                    split,
                    f"{self.relative}/{self.file_name(split)}",
                    self.spills[(split, "")].rows,
                    f"{self.relative}/{self.file_name(split, sidecar)}" if sidecar else None,
                )
            )
        return outputs

    def _write_files(self, split: str) -> None:
        spill = self.spills[(split, "")]
        assert isinstance(spill, LineSpill)
        row = 0
        with ExitStack() as stack:
            names = [self.file_name(split, stream) for stream in self.STREAMS]
            handles = [stack.enter_context(self.open_output(name)) for name in names]
            for block in spill.blocks():
                for stream, handle, lines in zip(self.STREAMS, handles, block):
                    handle.write(self.finish_block(stream, row, lines))
                row += len(block[0])


class HashedFile:
    """A file being written that takes the SHA-256 of its bytes on the way, so the manifest
    need not read a large file back."""

    def __init__(self, path: Path):
        self.file = path.open("wb")
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_classes() -> dict[str, type[Format]]:
    from .chat import AlpacaFormat, OpenAIFormat, PromptCompletionFormat, ShareGPTFormat
    from .columnar import HFFormat, ParquetFormat
    from .records import RecordsFormat

    classes = (
        OpenAIFormat,
        ShareGPTFormat,
        AlpacaFormat,
        PromptCompletionFormat,
        HFFormat,
        ParquetFormat,
        RecordsFormat,
    )
    return {cls.name: cls for cls in classes}

"""Output formats behind one small interface: ``write(split, part)`` as often as there are rows,
``close()`` once. Each format writes under its own folder of a dataset (``openai/``,
``parquet/``…) and reports, per split, where the rows went and how many there are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, ClassVar

import zstandard

from ...graph.export import ExpressionRow, SceneView
from ..options import ExportOptions
from ..rows import Pair

ZSTD_LEVEL = 3


@dataclass
class Part:
    """What one chunk gives one split of one dataset."""

    pairs: list[Pair] = field(default_factory=list)
    scenes: list[SceneView] = field(default_factory=list)
    expressions: list[ExpressionRow] = field(default_factory=list)


@dataclass
class Output:
    """Rows of one split in one format, at ``path`` (relative to the export folder)."""

    split: str
    path: str
    rows: int


class Format(ABC):
    name: ClassVar[str]

    def __init__(self, folder: Path, relative: str, options: ExportOptions):
        self.folder = folder  # where this format writes, e.g. <staging>/openai
        self.relative = relative  # the same folder relative to the export folder
        self.options = options
        self.rows: dict[str, int] = {}
        self.warnings: list[str] = []

    @abstractmethod
    def write(self, split: str, part: Part) -> None:
        """Append the part's rows to the split (opening its file on first use)."""

    @abstractmethod
    def close(self) -> list[Output]:
        """Finish every file; return one Output per split written."""


class JsonLinesFormat(Format):
    """One JSON object per line, one file per split, zstd-compressed with ``--compress zstd``."""

    def __init__(self, folder: Path, relative: str, options: ExportOptions):
        super().__init__(folder, relative, options)
        self.files: dict[str, BinaryIO] = {}

    @abstractmethod
    def lines(self, part: Part) -> list[bytes]:
        """The part's rows, each one line of JSON ending in a newline."""

    def write(self, split: str, part: Part) -> None:
        lines = self.lines(part)
        if not lines:
            return
        if split not in self.files:
            self.files[split] = open_output(self.folder / self.file_name(split), self.options)
        self.files[split].write(b"".join(lines))
        self.rows[split] = self.rows.get(split, 0) + len(lines)

    def file_name(self, split: str) -> str:
        return f"{split}.jsonl" + (".zst" if self.options.compress == "zstd" else "")

    def close(self) -> list[Output]:
        for handle in self.files.values():
            handle.close()
        return [
            Output(split, f"{self.relative}/{self.file_name(split)}", self.rows[split])
            for split in self.files
        ]


def open_output(path: Path, options: ExportOptions) -> BinaryIO:
    """A new binary file, behind a zstd stream when the export is compressed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("wb")
    if options.compress == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(handle)
    return handle


def format_classes() -> dict[str, type[Format]]:
    from .chat import AlpacaFormat, OpenAIFormat, ShareGPTFormat
    from .columnar import HFFormat, ParquetFormat
    from .records import RecordsFormat

    classes = (OpenAIFormat, ShareGPTFormat, AlpacaFormat, HFFormat, ParquetFormat, RecordsFormat)
    return {cls.name: cls for cls in classes}

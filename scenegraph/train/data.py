"""The export's side of training: its manifest, which datasets and files to read, and the rows
as TRL's conversational prompt-completion type (the loss falls on the completion only)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zstandard
from pydantic import ValidationError

from ..errors import ConfigError
from ..export.manifest import MANIFEST, Manifest
from .options import DataFormat, TrainOptions

FORMATS: tuple[DataFormat, ...] = ("prompt-completion", "openai")  # preferred first
SPLITS = ("train", "validation")
Row = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Export:
    folder: Path
    manifest: Manifest
    sha256: str  # of manifest.json: it lists every file's SHA-256, so it pins the data


@dataclass(frozen=True)
class DatasetFiles:
    """One dataset of the export to train an adapter on, in the format chosen."""

    key: str
    style: str | None
    format: DataFormat
    files: dict[str, Path]  # split -> file, for the splits of SPLITS the export wrote


def read_export(folder: Path) -> Export:
    path = folder / MANIFEST
    try:
        data = path.read_bytes()
    except OSError:
        raise ConfigError(
            f"{folder}: no {MANIFEST}; name a folder written by `scenegraph export`"
        ) from None
    try:
        manifest = Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: not a scenegraph export manifest ({exc.error_count()} "
            "problems); export again with this version"
        ) from None
    return Export(folder, manifest, hashlib.sha256(data).hexdigest())


def datasets_to_train(export: Export, options: TrainOptions) -> list[DatasetFiles]:
    """Every dataset of the export (one per style with --by-style), or those the options name,
    each with its train and validation files in the format asked for (or the first of
    FORMATS the export wrote)."""
    outputs = export.manifest.outputs
    available = list(dict.fromkeys(o.dataset for o in outputs))
    unknown = [name for name in options.datasets if name not in available]
    if unknown:
        raise ConfigError(
            f"--dataset: {', '.join(unknown)} not in {export.folder} "
            f"(its datasets: {', '.join(available)})"
        )
    written = {o.format for o in outputs}
    chosen = options.format or next((f for f in FORMATS if f in written), None)
    if chosen is None or chosen not in written:
        raise ConfigError(
            f"{export.folder}: no {options.format or ' or '.join(FORMATS)} files to train on; "
            "export again with --formats prompt-completion"
        )
    plans = []
    for key in options.datasets or available:
        entries = [o for o in outputs if o.dataset == key and o.format == chosen]
        files = {o.split: export.folder / o.path for o in entries if o.split in SPLITS and o.rows}
        if "train" not in files:
            raise ConfigError(f"{export.folder}: dataset {key} has no train split to train on")
        plans.append(DatasetFiles(key, entries[0].style, chosen, files))
    return plans


def read_rows(path: Path, fmt: DataFormat) -> list[Row]:
    """The rows of one file as prompt and completion message lists (the rest of each row, its
    ids and voice, is not trained on)."""
    rows = []
    for number, line in enumerate(_lines(path), start=1):
        row = orjson.loads(line)
        if fmt == "openai":
            *prompt, answer = row["messages"]
            row = {"prompt": prompt, "completion": [answer]}
        if row["completion"][-1].get("role") != "assistant":
            raise ConfigError(f"{path}:{number}: the last message is not the assistant's")
        rows.append({"prompt": row["prompt"], "completion": row["completion"]})
    return rows


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as raw:
        stream = (
            io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
            if path.suffix == ".zst"
            else raw
        )
        for line in stream:
            if line.strip():
                yield line


def token_lengths(tokenizer: Any, rows: list[Row]) -> list[int]:
    """Each row's length in tokens, rendered as the trainer renders it (the chat template)."""
    texts = [
        tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        for row in rows
    ]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def max_length(lengths: list[int], options: TrainOptions) -> int:
    """The options' max length, or the longest row rounded up to a multiple of 8, capped: no
    row is cut (a cut row loses the end of its answer, the part the loss is on) unless it is
    longer than the cap; padding is per batch, so a long limit costs only the batches that
    need it."""
    if options.max_length is not None:
        return options.max_length
    longest = -(-max(lengths, default=8) // 8) * 8
    return min(longest, options.max_length_cap)

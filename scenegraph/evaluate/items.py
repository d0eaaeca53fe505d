"""What an evaluation reads from an export folder, and nothing else (no store): the rows of one
split, each as the messages a model is asked with and the answer the data expects; the rows of
the train split (their expressions teach the voice classifier); and the corpus records of every
split (every scene, its components and its place in the fractal).

Rows come from the first chat format the export wrote that carries each row's metadata beside
its messages (``prompt-completion``, ``openai`` with its sidecar, ``sharegpt``, ``alpaca``),
read whole from every dataset of the split (``--by-style`` exports hold one per style).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zstandard

from ..corpus import CorpusBuilder, RawRecord, Where
from ..errors import ConfigError
from ..export.manifest import MANIFEST, Manifest, OutputEntry
from ..models import Scene, fractal_place

Messages = list[dict[str, str]]
# Formats whose rows carry the metadata, in the order they are preferred.
ROW_FORMATS = ("prompt-completion", "openai", "sharegpt", "alpaca")
RECORDS = "records"


@dataclass(frozen=True)
class Item:
    """One row to answer: the messages asking (system, user), the answer the data holds, and
    what the row is about (its ``pair_meta``)."""

    id: str
    direction: str
    messages: Messages
    expected: str
    scene_ids: list[str]
    expression_id: str
    source_expression_id: str | None
    style: str | None
    register: str | None
    tone: str | None
    form: str
    target: str | None
    lang: str | None

    @property
    def question(self) -> str:
        """The input after the instruction: the scene, the expression to read or carry over."""
        return self.messages[-1]["content"].split("\n\n", 1)[-1]

    @property
    def cell(self) -> str:
        """The style × register × tone cell, ``-`` for what is unset."""
        return " | ".join(value or "-" for value in (self.style, self.register, self.tone))


@dataclass
class ExportData:
    manifest: Manifest
    items: list[Item]  # the evaluated split, ``limit`` per direction at most
    train: list[Item]  # the train split's rows (for the voice classifier)
    scenes: dict[str, Scene]  # every scene the records define
    root_of: dict[str, str]  # scene id -> the root of its fractal tree


def load_export(
    export_dir: Path,
    split: str,
    directions: list[str],
    limit: int | None,
    dataset: str | None = None,
) -> ExportData:
    """Read what an evaluation needs; a ``ConfigError`` says what is missing and how to get it.

    ``dataset`` keeps the held-out rows of one dataset of a ``--by-style`` export (the train
    rows of every dataset still teach the voice classifier every style)."""
    folder = Path(export_dir)
    manifest = _manifest(folder)
    outputs = manifest.outputs
    if dataset is not None and not any(o.dataset == dataset for o in outputs):
        names = ", ".join(sorted({o.dataset for o in outputs}))
        raise ConfigError(f"{folder}: no dataset {dataset!r} in the export (it has {names})")
    fmt = next((f for f in ROW_FORMATS if any(o.format == f for o in outputs)), None)
    if fmt is None:
        raise ConfigError(
            f"{folder}: the export has none of the formats {', '.join(ROW_FORMATS)}; export "
            "again with one of them (--formats prompt-completion,records)"
        )
    if not any(o.format == fmt and o.split == split for o in outputs):
        have = sorted({o.split for o in outputs if o.format == fmt})
        raise ConfigError(
            f"{folder}: no {split!r} split in the export (it has {', '.join(have)}); pass "
            "--split, or export with a test share (--split 0.8,0.1,0.1)"
        )
    if not any(o.format == RECORDS for o in outputs):
        raise ConfigError(
            f"{folder}: the export has no records/ (the scenes); export again with the "
            "records format (--formats prompt-completion,records)"
        )
    held_out = [o for o in outputs if dataset is None or o.dataset == dataset]
    items = _limited(
        [i for i in read_items(folder, held_out, fmt, split) if i.direction in directions], limit
    )
    train = list(read_items(folder, outputs, fmt, "train")) if split != "train" else items
    scenes, parents = read_scenes(folder, [o for o in outputs if o.format == RECORDS])
    root_of = {sid: fractal_place(sid, parents)[1] for sid in scenes}
    return ExportData(manifest, items, train, scenes, root_of)


def _manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found: name a folder written by `scenegraph export`"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not an export manifest ({exc})") from None


def _limited(items: list[Item], limit: int | None) -> list[Item]:
    """The first ``limit`` items of each direction, in file order (all without a limit)."""
    if limit is None:
        return items
    seen: dict[str, int] = defaultdict(int)
    kept = []
    for item in items:
        if seen[item.direction] < limit:
            seen[item.direction] += 1
            kept.append(item)
    return kept


def lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, zstd-compressed or not."""
    with path.open("rb") as raw:
        handle: Any = raw
        if path.suffix == ".zst":
            handle = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def read_items(folder: Path, outputs: list[OutputEntry], fmt: str, split: str) -> Iterator[Item]:
    """Every row of ``split`` in format ``fmt``, over all datasets of the export."""
    for out in outputs:
        if out.format != fmt or out.split != split:
            continue
        rows = lines(folder / out.path)
        if fmt == "openai":
            if out.sidecar is None:
                raise ConfigError(f"{folder / out.path}: the openai file has no sidecar")
            for row, meta in zip(rows, lines(folder / out.sidecar), strict=True):
                yield _item(row["messages"], meta)
        else:
            for row in rows:
                yield _item(READERS[fmt](row), row)


def _prompt_completion(row: dict[str, Any]) -> Messages:
    return [*row["prompt"], *row["completion"]]


def _sharegpt(row: dict[str, Any]) -> Messages:
    turns = [
        {"role": "user" if turn["from"] == "human" else "assistant", "content": turn["value"]}
        for turn in row["conversations"]
    ]
    return [{"role": "system", "content": row["system"]}, *turns]


def _alpaca(row: dict[str, Any]) -> Messages:
    return [
        {"role": "system", "content": row["system"]},
        {"role": "user", "content": row["instruction"]},
        {"role": "assistant", "content": row["output"]},
    ]


READERS: dict[str, Callable[[dict[str, Any]], Messages]] = {
    "prompt-completion": _prompt_completion,
    "sharegpt": _sharegpt,
    "alpaca": _alpaca,
}


def _item(messages: Messages, meta: dict[str, Any]) -> Item:
    *asking, answer = messages
    return Item(
        id=meta["id"],
        direction=meta["direction"],
        messages=[{"role": m["role"], "content": m["content"]} for m in asking],
        expected=answer["content"],
        scene_ids=list(meta["scene_ids"]),
        expression_id=meta["expression_id"],
        source_expression_id=meta.get("source_expression_id"),
        style=meta.get("style"),
        register=meta.get("register"),
        tone=meta.get("tone"),
        form=meta.get("form") or "text",
        target=meta.get("target"),
        lang=meta.get("lang"),
    )


def read_scenes(
    folder: Path, outputs: list[OutputEntry]
) -> tuple[dict[str, Scene], dict[str, str]]:
    """The scenes the records define, built as ``scenegraph load`` builds them, and the
    child → parent links of the fractal."""
    builder = CorpusBuilder()
    for out in outputs:
        for number, data in enumerate(lines(folder / out.path), start=1):
            if problems := builder.add(RawRecord(data, Where(out.path, number))):
                raise ConfigError(problems[0])
    corpus = builder.corpus
    scenes = {
        sid: Scene(
            id=draft.id,
            title=draft.title,
            text=draft.text,
            lang=draft.lang,
            components=draft.components,
            archetypes=draft.archetypes,
            hyperlexemes=draft.hyperlexemes,
            parts=draft.parts,
            leads_to=draft.leads_to,
            props=draft.props,
        )
        for sid, draft in corpus.scenes.items()
    }
    return scenes, corpus.parents

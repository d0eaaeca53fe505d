"""What an export leaves beside its data: ``manifest.json``, the dataset card ``README.md`` (with
Hugging Face front matter) and LLaMA-Factory's ``dataset_info.json``.

Nothing here holds a clock time, so the same export gives the same bytes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel

from .. import __version__
from .options import SPLITS, ExportOptions
from .splits import Leakage

MANIFEST = "manifest.json"
CARD = "README.md"
LLAMA_FACTORY = "dataset_info.json"
PROVENANCE_KEYS = ("source", "provider", "model", "template_hash")
CHAT_FORMATS = ("openai", "sharegpt", "alpaca")
OPENAI_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}
LLAMA_FACTORY_ENTRY: dict[str, dict[str, Any]] = {
    "openai": {"formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": OPENAI_TAGS},
    "parquet": {"formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": OPENAI_TAGS},
    "sharegpt": {
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system"},
    },
    "alpaca": {
        "formatting": "alpaca",
        "columns": {
            "prompt": "instruction",
            "query": "input",
            "response": "output",
            "system": "system",
        },
    },
}


class OutputEntry(BaseModel):
    """One split of one format of one dataset: where it is and how many rows it has."""

    dataset: str  # "all", or the style's folder name with --by-style
    style: str | None
    format: str
    split: str
    path: str  # relative to the export folder; a folder for `hf` (load_from_disk(path)[split])
    rows: int


class FileEntry(BaseModel):
    path: str
    bytes: int
    sha256: str


class Counts(BaseModel):
    pairs: int = 0
    by_split: dict[str, int] = {}
    by_direction: dict[str, int] = {}
    by_style: dict[str, int] = {}
    by_split_direction: dict[str, dict[str, int]] = {}
    records: dict[str, int] = {}  # corpus records (scene and pair records) per split
    # pairs left out by --max-per-cell, per "direction style|register|tone"
    capped: dict[str, int] = {}


class Manifest(BaseModel):
    format_version: int = 1
    project_version: str = __version__
    name: str
    source: dict[str, str]  # dialect and uri of the store read
    options: ExportOptions
    selection: dict[str, int]  # scenes, trees (split groups), expressions read
    counts: Counts
    checks: dict[str, int]  # expressions written: passed, not_checked, failed
    provenance: dict[str, dict[str, int]]  # per provenance key, how many expressions per value
    templates: dict[str, str]  # SHA-256 of the prompt templates
    leakage: Leakage
    outputs: list[OutputEntry]
    warnings: list[str] = []
    files: list[FileEntry] = []  # every file of the export but this manifest


class Tally:
    """Counts gathered while the rows stream past."""

    def __init__(self) -> None:
        self.pairs: Counter = Counter()  # (split, direction, style) -> pairs
        self.capped: Counter = Counter()
        self.records: Counter = Counter()
        self.expressions: Counter = Counter()  # (passed, lang, provenance values) -> expressions

    def add_expressions(self, expressions: list) -> None:
        """Count expressions written (each once)."""
        self.expressions.update(
            (e.passed, e.lang, tuple(map(e.provenance.get, PROVENANCE_KEYS))) for e in expressions
        )

    def counts(self) -> Counts:
        by_split_direction: dict[str, Counter] = {}
        for (split, direction, _), n in self.pairs.items():
            by_split_direction.setdefault(split, Counter())[direction] += n
        return Counts(
            pairs=sum(self.pairs.values()),
            by_split=_sorted(_sum_by(self.pairs, 0), SPLITS),
            by_direction=_sorted(_sum_by(self.pairs, 1)),
            by_style=_sorted(_sum_by(self.pairs, 2)),
            by_split_direction={
                s: _sorted(c) for s, c in _sorted(by_split_direction, SPLITS).items()
            },
            records=_sorted(self.records, SPLITS),
            capped=_sorted(self.capped),
        )

    def checks(self) -> dict[str, int]:
        """Expressions written, by what their quality checks said."""
        names = {True: "passed", False: "failed", None: "not_checked"}
        out: Counter = Counter()
        for (passed, _, _), n in self.expressions.items():
            out[names[passed]] += n
        return _sorted(out)

    def langs(self) -> list[str]:
        """Languages of the expressions written, most frequent first."""
        counts = _sum_by(self.expressions, 1)
        counts.pop("(none)", None)
        return sorted(counts, key=lambda lang: (-counts[lang], lang))

    def provenance(self) -> dict[str, dict[str, int]]:
        """Per provenance key, how many expressions carry each value."""
        out = {}
        for index, key in enumerate(PROVENANCE_KEYS):
            values: Counter = Counter()
            for combo, n in self.expressions.items():
                if combo[2][index] is not None:
                    values[str(combo[2][index])] += n
            if values:
                out[key] = _sorted(values)
        return out


def _sum_by(counter: Counter, index: int) -> Counter:
    out: Counter = Counter()
    for key, n in counter.items():
        out[key[index] if key[index] is not None else "(none)"] += n
    return out


def _sorted(mapping: dict, order: tuple[str, ...] = ()) -> dict:
    rank = {name: i for i, name in enumerate(order)}
    return {k: mapping[k] for k in sorted(mapping, key=lambda k: (rank.get(k, len(rank)), str(k)))}


# -- files --------------------------------------------------------------------------------


def file_entries(folder: Path) -> list[FileEntry]:
    """Every file under ``folder`` (the manifest aside) with its size and SHA-256, sorted."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == MANIFEST:
            continue
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        entries.append(FileEntry(path=relative, bytes=path.stat().st_size, sha256=digest))
    return entries


def write_json(path: Path, value: Any) -> None:
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


# -- LLaMA-Factory ------------------------------------------------------------------------


def llama_factory_info(outputs: list[OutputEntry], options: ExportOptions) -> dict[str, Any]:
    """One dataset_info.json entry per split of each format LLaMA-Factory reads as written.

    Compressed JSONL is left out: LLaMA-Factory picks a reader by the file's last extension.
    """
    info = {}
    for out in outputs:
        if out.format not in LLAMA_FACTORY_ENTRY or out.path.endswith(".zst"):
            continue
        dataset = "" if out.dataset == "all" else f"{out.dataset}_"
        info[f"{options.name}_{dataset}{out.format}_{out.split}"] = {
            "file_name": out.path,
            **LLAMA_FACTORY_ENTRY[out.format],
        }
    return info


# -- dataset card -------------------------------------------------------------------------


def card(manifest: Manifest, langs: list[str]) -> str:
    """README.md: Hugging Face front matter (languages, tags, configs) and a short description."""
    return (
        "---\n"
        + yaml.safe_dump(_front_matter(manifest, langs), allow_unicode=True, sort_keys=False)
        + "---\n\n"
        + _body(manifest)
    )


def _front_matter(manifest: Manifest, langs: list[str]) -> dict[str, Any]:
    front: dict[str, Any] = {"pretty_name": manifest.name}
    if manifest.options.license:
        front["license"] = manifest.options.license
    if langs:
        front["language"] = langs
    front["task_categories"] = ["text-generation"]
    front["tags"] = ["scenegraph", "scene-fractal", "lora", "synthetic"]
    front["size_categories"] = [_size_category(manifest.counts.pairs)]
    configs = _configs(manifest.outputs)
    if configs:
        front["configs"] = configs
    return front


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return label
    return "10M<n<100M"


def _configs(outputs: list[OutputEntry]) -> list[dict[str, Any]]:
    """Hub configs for the file formats the Hub viewer reads (JSONL chat formats and Parquet)."""
    configs: dict[str, dict[str, Any]] = {}
    for out in outputs:
        if out.format not in LLAMA_FACTORY_ENTRY:
            continue
        name = out.format if out.dataset == "all" else f"{out.dataset}-{out.format}"
        config = configs.setdefault(name, {"config_name": name, "data_files": []})
        config["data_files"].append({"split": out.split, "path": out.path})
    result = list(configs.values())
    if result:
        result[0]["default"] = True
    return result


def _body(manifest: Manifest) -> str:
    counts, options = manifest.counts, manifest.options
    lines = [
        f"# {manifest.name}",
        "",
        "Training pairs exported by scenegraph from a graph of scenes: each scene with its "
        "components (agent, field, act, tone), archetypes, hyperlexemes and sub-scenes, and "
        "the expressions it takes in many styles, registers, tones and forms.",
        "",
        "## Directions",
        "",
        "- **forward**: the scene (hyperlexeme, components, archetypes, context) and a voice → "
        "an expression in that voice.",
        "- **reverse**: an expression → its scene's hyperlexeme, components and archetypes as "
        "JSON.",
        "- **transfer**: an expression of a scene in one style → the same scene in another style.",
        "",
        "## Counts",
        "",
        "| split | " + " | ".join(options.directions) + " | all |",
        "|---|" + "---|" * (len(options.directions) + 1),
    ]
    for split, by_direction in counts.by_split_direction.items():
        cells = [str(by_direction.get(d, 0)) for d in options.directions]
        lines.append(f"| {split} | " + " | ".join(cells) + f" | {counts.by_split.get(split, 0)} |")
    lines += [
        "",
        f"Pairs per style: {', '.join(f'{k} {v}' for k, v in counts.by_style.items()) or 'none'}.",
        "",
        "## Splits",
        "",
        f"Seeded (seed {options.seed}) and grouped by fractal tree: a scene, its sub-scenes and "
        "every scene they share an expression with stay in one split; stratified by each tree's "
        f"main style. Scenes in several splits: {manifest.leakage.scenes_in_several_splits}; "
        f"trees in several splits: {manifest.leakage.trees_in_several_splits}.",
        "",
        "## Files",
        "",
    ]
    lines += [
        f"- `{out.path}` ({out.format}, {out.split}): {out.rows} rows" for out in manifest.outputs
    ]
    lines += [
        "",
        "`records/` holds the corpus itself in the shapes `scenegraph load` reads (decompress "
        "`.zst` files first). `manifest.json` lists every file with its SHA-256; "
        "`dataset_info.json` registers the files with LLaMA-Factory.",
        "",
    ]
    return "\n".join(lines)

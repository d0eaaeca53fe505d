"""What an export leaves beside its data: ``manifest.json``, the dataset card ``README.md`` (with
Hugging Face front matter) and LLaMA-Factory's ``dataset_info.json``.

Nothing here holds a clock time, so the same export gives the same bytes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
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
# JSON-lines formats of training rows: the card's configs when no Parquet is written.
JSONL_FORMATS = ("openai", "sharegpt", "alpaca", "prompt-completion")
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
    # a file beside `path` whose line n describes row n (openai: id, direction, scenes, voice)
    sidecar: str | None = None


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


class ReversePairs(BaseModel):
    """Which expressions got a reverse pair, by form (before any ``max_per_cell`` cap)."""

    rule: str
    made: dict[str, int]
    skipped: dict[str, int]  # expressions of forms that cannot carry the scene


class NearDuplicates(BaseModel):
    """Near-duplicate scenes of the selection: their groups share a split, unless merging them
    would have made one group too large (those pairs are listed)."""

    pairs: int
    across_splits: list[tuple[str, str]]


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
    # --by-style: styles with too few training rows for a dataset of their own, with how many
    # they had; their rows are in the dataset "other"
    merged_styles: dict[str, int] = {}
    reverse: ReversePairs | None = None  # when reverse pairs were asked for
    near_duplicates: NearDuplicates
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


def file_entries(folder: Path, known: Mapping[str, str] | None = None) -> list[FileEntry]:
    """Every file under ``folder`` (the manifest aside) with its size and SHA-256, sorted.
    ``known``: SHA-256 taken while writing (relative path -> hex), used instead of reading."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == MANIFEST:
            continue
        digest = (known or {}).get(relative)
        if digest is None:
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        entries.append(FileEntry(path=relative, bytes=path.stat().st_size, sha256=digest))
    return entries


def write_json(path: Path, value: Any) -> None:
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


# -- LLaMA-Factory ------------------------------------------------------------------------


def llama_factory_info(outputs: list[OutputEntry], options: ExportOptions) -> dict[str, Any]:
    """One dataset_info.json entry per split of each format LLaMA-Factory reads as written.

    Compressed JSONL is left out: LLaMA-Factory picks a reader by the file's last extension
    and has none for ``.zst``. So is ``prompt-completion``: LLaMA-Factory documents no format
    with the prompt and the answer as two message lists (its ``openai`` entry reads the same
    rows as one).
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


class CardExtras(BaseModel):
    """Facts other steps of the export add to the card, each in its named place (left out when
    None): ``reverse_rule``, under Directions, says which expressions get reverse pairs and
    what those answer; ``near_duplicates``, under Splits, reports near-duplicate scenes that
    landed in different splits."""

    reverse_rule: str | None = None
    near_duplicates: str | None = None


def card(
    manifest: Manifest,
    langs: list[str],
    example: dict[str, Any] | None = None,
    extras: CardExtras | None = None,
) -> str:
    """README.md: Hugging Face front matter (languages, tags, configs) and what a user of the
    data needs: license, how the texts were made, counts, splits, files, how to load each
    config, one example row and the limitations."""
    configs = _configs(manifest.outputs)
    extras = extras or CardExtras()
    sections = [
        _about(manifest),
        _directions(extras),
        _counts(manifest),
        _splits(manifest, extras),
        _files(manifest),
        _loading(manifest, configs),
        _example(example),
        _limitations(manifest, extras),
    ]
    return (
        "---\n"
        + yaml.safe_dump(
            _front_matter(manifest, langs, configs), allow_unicode=True, sort_keys=False
        )
        + "---\n\n"
        + "\n".join(line for section in sections for line in [*section, ""])
    )


def _front_matter(
    manifest: Manifest, langs: list[str], configs: list[dict[str, Any]]
) -> dict[str, Any]:
    front: dict[str, Any] = {"pretty_name": manifest.name}
    if manifest.options.license:
        front["license"] = manifest.options.license
    if langs:
        front["language"] = langs
    front["task_categories"] = ["text-generation"]
    front["tags"] = ["scenegraph", "scene-fractal", "lora", "synthetic"]
    front["size_categories"] = [_size_category(manifest.counts.pairs)]
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
    """Hub configs, all of one file format: ``datasets`` (and the Hub) read every config of a
    folder with the one builder its first config's files call for, so JSON and Parquet configs
    cannot sit side by side. Parquet when it is written (it carries the ids, direction, style
    and scenes, and the Hub viewer reads it); otherwise the JSON-lines training formats."""
    written = {out.format for out in outputs}
    formats = ("parquet",) if "parquet" in written else JSONL_FORMATS
    configs: dict[str, dict[str, Any]] = {}
    for out in outputs:
        if out.format not in formats:
            continue
        name = out.format if out.dataset == "all" else f"{out.dataset}-{out.format}"
        config = configs.setdefault(name, {"config_name": name, "data_files": []})
        config["data_files"].append({"split": out.split, "path": out.path})
    result = list(configs.values())
    if result:
        result[0]["default"] = True
    return result


def _about(manifest: Manifest) -> list[str]:
    license_line = (
        f"License: {manifest.options.license}."
        if manifest.options.license
        else "License: not stated (the export was made without `--license`; pass "
        "`--license` to name one)."
    )
    return [
        f"# {manifest.name}",
        "",
        "Training pairs exported by scenegraph from a graph of scenes: each scene with its "
        "components (agent, field, act, tone), archetypes, hyperlexemes and sub-scenes, and "
        "the expressions it takes in many styles, registers, tones and forms.",
        "",
        license_line,
        "",
        "## How the texts were made",
        "",
        *_provenance(manifest),
    ]


def _provenance(manifest: Manifest) -> list[str]:
    """The expressions in these rows by where they came from (the manifest's provenance)."""
    total = sum(manifest.checks.values())
    corpus = manifest.provenance.get("source", {}).get("corpus", 0)
    lines = [
        f"The rows are built from {total} expressions: {corpus} from the source corpus "
        f"(written by its authors) and {total - corpus} made by `scenegraph generate`. "
        "Prompts, instructions and the scene descriptions are filled from fixed templates "
        "(their SHA-256 are in `manifest.json`, `templates`)."
    ]
    for key in ("provider", "model", "template_hash"):
        if values := manifest.provenance.get(key):
            shown = ", ".join(f"`{value}` {n}" for value, n in values.items())
            lines.append(f"- generated, by {key.replace('_', ' ')}: {shown}")
    if manifest.provenance.get("provider", {}).get("template"):
        lines.append(
            "- the `template` provider fills fixed templates offline (no model): its texts "
            "exercise the pipeline and are not meant to train a voice"
        )
    checks = ", ".join(f"{name} {n}" for name, n in manifest.checks.items()) or "none"
    lines += [
        "",
        f"Quality checks (`scenegraph check`) on these expressions: {checks}. Expressions "
        "whose checks failed are left out unless the export was made with "
        "`--include-failed`.",
    ]
    return lines


def _directions(extras: CardExtras) -> list[str]:
    lines = [
        "## Directions",
        "",
        "- **forward**: the scene (hyperlexeme, components, archetypes, context) and a voice → "
        "an expression in that voice.",
        "- **reverse**: an expression → its scene's hyperlexeme, components and archetypes as "
        "JSON.",
        "- **transfer**: an expression of a scene in one style → the same scene in another style.",
    ]
    if extras.reverse_rule:
        lines += ["", f"Which expressions get reverse pairs: {extras.reverse_rule}"]
    return lines


def _counts(manifest: Manifest) -> list[str]:
    counts, options = manifest.counts, manifest.options
    lines = [
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
    ]
    if options.by_style:
        lines += [
            "",
            "One dataset per style under `styles/` (`--by-style`). A style needs at least "
            f"{options.min_style_rows} training rows for a dataset of its own (OpenAI's "
            "fine-tuning minimum is 10 examples).",
        ]
        if manifest.merged_styles:
            merged = ", ".join(f"{k} {v}" for k, v in manifest.merged_styles.items())
            lines[-1] += f" Merged into `styles/other` (training rows each): {merged}."
    return lines


def _splits(manifest: Manifest, extras: CardExtras) -> list[str]:
    options = manifest.options
    lines = [
        "## Splits",
        "",
        f"Seeded (seed {options.seed}) and grouped by fractal tree: a scene, its sub-scenes and "
        "every scene they share an expression with stay in one split; stratified by each tree's "
        f"main style. Scenes in several splits: {manifest.leakage.scenes_in_several_splits}; "
        f"trees in several splits: {manifest.leakage.trees_in_several_splits}.",
        "",
        "Rows are shuffled within each split by the seed, in the same order in every format: "
        "row n of `openai/train.jsonl` is row n of `parquet/train.parquet`. The same seed and "
        "options give the same bytes. `records/` (the corpus, not training rows) keeps scene "
        "order.",
    ]
    if extras.near_duplicates:
        lines += ["", f"Near-duplicate scenes across splits: {extras.near_duplicates}"]
    return lines


def _files(manifest: Manifest) -> list[str]:
    lines = ["## Files", ""]
    lines += [
        f"- `{out.path}` ({out.format}, {out.split}): {out.rows} rows"
        + (f"; row metadata in `{out.sidecar}`" if out.sidecar else "")
        for out in manifest.outputs
    ]
    lines += [
        "",
        "Every row carries where it comes from: `id`, `direction`, `scene_ids`, "
        "`expression_id`, `source_expression_id` (transfer), `style`, `register`, `tone`, "
        "`form`, `target`, `lang`, as columns (`parquet`, `hf`) or as extra keys beside the "
        "chat (`sharegpt`, `alpaca`, `prompt-completion`). OpenAI's fine-tuning upload takes no "
        "keys but `messages`, so each `openai` file has a sidecar `<split>.meta.jsonl` whose "
        'line n, `{"row": n, …}`, describes row n.',
        "",
        "`alpaca` rows hold the whole user turn in `instruction` (`input` is empty), so every "
        "reader prompts with the text the chat formats use. `prompt-completion` is TRL's "
        "conversational prompt-completion type: `SFTTrainer` trains on the completion only.",
        "",
        "`records/` holds the corpus itself in the shapes `scenegraph load` reads (decompress "
        "`.zst` files first). `manifest.json` lists every file with its SHA-256. "
        "`dataset_info.json` registers the uncompressed `openai`, `sharegpt` and `alpaca` files "
        "and the Parquet files with LLaMA-Factory; it has no reader for `.jsonl.zst` nor a "
        "format for `prompt-completion`, so those are not registered.",
    ]
    return lines


def _loading(manifest: Manifest, configs: list[dict[str, Any]]) -> list[str]:
    """A snippet per config of the card, then the ways to the files no config names."""
    lines = ["## Loading", ""]
    if configs:
        lines += [
            "Each config by name (`path/to/export` is this folder, or the Hub repository id):",
            "",
            "```python",
            "from datasets import load_dataset",
            "",
        ]
        lines += [
            f'ds = load_dataset("path/to/export", "{config["config_name"]}")'
            + ("  # the default" if config.get("default") else "")
            for config in configs
        ]
        lines += ["```", ""]
    names = {config["config_name"] for config in configs}
    jsonl = [
        out
        for out in manifest.outputs
        if out.format in JSONL_FORMATS
        and (out.format if out.dataset == "all" else f"{out.dataset}-{out.format}") not in names
    ]
    if jsonl:
        first = jsonl[0]
        lines += [
            "The JSON-lines files without a config load with the `json` builder, e.g.:",
            "",
            "```python",
            f'ds = load_dataset("json", data_files={{"{first.split}": '
            f'"path/to/export/{first.path}"}})',
            "```",
            "",
        ]
    if any(out.format == "hf" for out in manifest.outputs):
        lines += [
            "`hf/` is a `DatasetDict` saved with `save_to_disk`; it needs `datasets` 4 or "
            "later (its features use the `List` type). Mapping or filtering it writes "
            "`cache-*.arrow` files into `hf/` itself, which then no longer matches "
            "`manifest.json`: load it with `keep_in_memory=True`, or copy the folder first.",
            "",
            "```python",
            "from datasets import load_from_disk",
            "",
            'ds = load_from_disk("path/to/export/hf", keep_in_memory=True)',
            "```",
            "",
        ]
    if any(out.format == "prompt-completion" for out in manifest.outputs):
        lines += [
            "Completion-only training with TRL:",
            "",
            "```python",
            "from trl import SFTConfig, SFTTrainer",
            "",
            'train = load_dataset("json", data_files="path/to/export/prompt-completion/'
            'train.jsonl", split="train")',
            'args = SFTConfig(output_dir="out")  # completion_only_loss applies to this type',
            'trainer = SFTTrainer(model="…", train_dataset=train, args=args)',
            "```",
            "",
        ]
    return lines[:-1]


def _example(example: dict[str, Any] | None) -> list[str]:
    if example is None:
        return ["## Example row", "", "No training rows were written."]
    text = orjson.dumps(example, option=orjson.OPT_INDENT_2).decode("utf-8")
    return [
        "## Example row",
        "",
        "The first training row, with the columns of `parquet/` (the chat formats hold the "
        "same `messages` in their own shape):",
        "",
        "```json",
        text,
        "```",
    ]


def _limitations(manifest: Manifest, extras: CardExtras) -> list[str]:
    """What the data cannot do; a limit that a CardExtras fact answers is said there instead."""
    sizes = ", ".join(f"{split} {n}" for split, n in manifest.counts.by_split.items())
    lines = [
        "## Limitations",
        "",
        "- Generated expressions are only as good as the model and prompts that made them, "
        "and the quality checks are heuristics, not a review.",
        f"- Pairs per split: {sizes}. Small validation and test splits give noisy metrics.",
        "- Expressions naming several scenes are written under one of them in `records/`.",
    ]
    if not extras.near_duplicates:
        lines.append(
            "- Splits are grouped by fractal tree and shared expressions only: scenes that are "
            "near duplicates without sharing a tree can fall in different splits."
        )
    if "reverse" in manifest.options.directions and not extras.reverse_rule:
        lines.append(
            "- A reverse pair asks for the whole scene from one expression; a short or "
            "symbolic expression may not determine it."
        )
    return lines

"""``export_dataset``: a selection of the graph → training files, a manifest and a dataset card.

Everything is written into a hidden staging folder beside the target and moved into place at
the end, so a failed export leaves nothing half-written. Rows stream a chunk of scenes at a
time into spill files (``formats/spill.py``); only ids, counters, the selected scenes'
components and archetypes, and a few bytes a row of shuffle keys and line lengths stay in
memory. The files are written from the spills at the end, each split shuffled by the seed.
"""

from __future__ import annotations

import gc
import hashlib
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError
from ..graph.base import Store
from ..graph.export import ExpressionRow
from ..text import nfc
from .formats import Format, Output, Part, format_classes, pair_meta
from .formats.spill import SPILL, row_keys
from .manifest import (
    CARD,
    LLAMA_FACTORY,
    MANIFEST,
    CardExtras,
    Manifest,
    NearDuplicates,
    OutputEntry,
    ReversePairs,
    Tally,
    card,
    file_entries,
    llama_factory_info,
    write_json,
)
from .options import ExportOptions
from .rows import REVERSE_RULE, Pair, Renderer, template_hashes
from .selection import NEAR, Chunk, Plan, plan_selection, read_chunks
from .splits import SplitAssigner, allot, check_leakage, near_duplicates_apart

Progress = Callable[[int], None]
ALL = "all"
NO_STYLE = "unstyled"
MERGED = "other"  # the dataset of the styles too small for one of their own (--by-style)


def export_dataset(
    store: Store,
    out_dir: str | Path,
    options: ExportOptions | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Export the selected subgraph as training sets; returns the manifest it wrote.

    ``progress`` is called with the number of scenes done after each chunk.
    """
    options = options or ExportOptions()
    target = Path(out_dir).resolve()
    _check_target(target, options.overwrite)
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        manifest = _export(store, staging, options, progress)
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder; name a folder to export into")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ConfigError(
            f"{target} already holds files; pass --force (overwrite=True) to "
            "replace it, or name a new folder"
        )


def _publish(staging: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def _export(
    store: Store, folder: Path, options: ExportOptions, progress: Progress | None
) -> Manifest:
    plan = plan_selection(store, options)
    router = Router(folder, options, plan)
    with _without_cycle_collection():
        for chunk in read_chunks(store, plan, options):
            router.write(chunk)
            if progress:
                progress(len(chunk.scene_ids))
        outputs, warnings = router.close()
    shutil.rmtree(folder / SPILL, ignore_errors=True)
    for out in outputs:
        if out.format == "records":
            router.tally.records[out.split] += out.rows
    manifest = Manifest(
        name=options.name,
        source={"dialect": store.dialect, "uri": store.uri},
        options=options,
        selection={
            "scenes": len(plan.scene_ids),
            "trees": plan.trees,
            "expressions": router.expressions_read,
        },
        counts=router.tally.counts(),
        checks=router.tally.checks(),
        provenance=router.tally.provenance(),
        templates=template_hashes(),
        leakage=check_leakage(router.scenes_by_split, plan.root_of),
        outputs=outputs,
        merged_styles=router.merged_styles,
        reverse=router.reverse_pairs(),
        near_duplicates=NearDuplicates(
            pairs=len(plan.near_duplicates),
            across_splits=near_duplicates_apart(
                plan.near_duplicates, plan.group_of, router.splits.split_of
            ),
        ),
        warnings=warnings,
    )
    info = llama_factory_info(outputs, options)
    if info:
        write_json(folder / LLAMA_FACTORY, info)
    text = card(manifest, router.tally.langs(), router.example(), _card_extras(manifest))
    (folder / CARD).write_text(text, encoding="utf-8")
    manifest.files = file_entries(folder, router.digests)
    write_json(folder / MANIFEST, manifest.model_dump(mode="json"))
    return manifest


def _card_extras(manifest: Manifest) -> CardExtras:
    """The card's sentences on the reverse-pair rule and near-duplicate scenes."""
    near = manifest.near_duplicates
    apart = ", ".join(f"{a}/{b}" for a, b in near.across_splits[:10]) or "none"
    reverse = None
    if manifest.reverse is not None:
        made = ", ".join(f"{form} {n}" for form, n in sorted(manifest.reverse.made.items()))
        skipped = ", ".join(f"{form} {n}" for form, n in sorted(manifest.reverse.skipped.items()))
        reverse = (
            f"{manifest.reverse.rule} Reverse pairs made: {made or 'none'}; expressions "
            f"left without one: {skipped or 'none'}."
        )
    return CardExtras(
        reverse_rule=reverse,
        near_duplicates=(
            f"{near.pairs} pairs of near-duplicate scenes (components and archetypes with a "
            f"Jaccard similarity of at least {NEAR}) were kept in one split each; pairs still "
            f"across splits: {apart}."
        ),
    )


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while rows stream: they form no cycles (reference
    counting frees every chunk), and full collections over the plan's id maps cost ~15% of a
    large export."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Router:
    """Sends each chunk's pairs and records to the right dataset, split and formats."""

    def __init__(self, folder: Path, options: ExportOptions, plan: Plan):
        self.folder, self.options, self.plan = folder, options, plan
        self.classes = format_classes()
        self.datasets: dict[str, tuple[str | None, list[Format]]] = {}  # key -> (style, formats)
        self.slugs: dict[str | None, str] = {}
        self.renderer = Renderer(options)
        self.splits = SplitAssigner(options.ratios(), plan.styles, options.seed)
        self.caps = allot(options.max_per_cell, options.ratios()) if options.max_per_cell else {}
        self.cells: Counter = Counter()
        self.tally = Tally()
        self.scenes_by_split: dict[str, set[str]] = defaultdict(set)
        self.expressions_read = 0
        self.first: tuple[int, Pair] | None = None  # the train row with the lowest shuffle key
        self.merged_styles: dict[str, int] = {}  # style -> training rows, merged into MERGED
        self.digests: dict[str, str] = {}  # data file (relative path) -> SHA-256, once written
        if not options.by_style:
            self._open_dataset(ALL, None)

    def write(self, chunk: Chunk) -> None:
        self._assign_splits(chunk)
        self.expressions_read += len(chunk.expressions)
        group_of, split_of = self.plan.group_of, self.splits.split_of
        parts: dict[tuple[str, str], Part] = {}
        counted: list[tuple[str, str, str | None]] = []
        written: dict[str, tuple[str, ExpressionRow]] = {}  # expression id -> (split, expression)
        for expr, pairs in self.renderer.pairs(chunk):
            split = split_of[group_of[expr.scene_ids[0]]]
            if self.caps:
                pairs = [pair for pair in pairs if not self._capped(pair, split)]
                if not pairs:
                    continue
            key = (self._dataset(expr.style), split)
            part = parts.get(key) or parts.setdefault(key, Part())
            part.pairs.extend(pairs)
            for pair in pairs:
                counted.append((split, pair.direction, expr.style))
            written[expr.id] = (split, expr)
        self.tally.pairs.update(counted)
        if "records" in self.options.formats:
            self._add_records(chunk, parts, written)
        self.tally.add_expressions([expr for _, expr in written.values()])
        for split, expr in written.values():
            self.scenes_by_split[split].update(expr.scene_ids)
        for (dataset, split), part in parts.items():
            part.keys = row_keys(self.options.seed, [pair.id for pair in part.pairs])
            if split == "train" and part.pairs:
                self._keep_first(part)
            for fmt in self.datasets[dataset][1]:
                fmt.write(split, part)

    def _keep_first(self, part: Part) -> None:
        key, index = min(zip(part.keys, range(len(part.keys))))
        if self.first is None or key < self.first[0]:
            self.first = (key, part.pairs[index])

    def example(self) -> dict | None:
        """The first row of a training file, as the Parquet file holds it (for the card)."""
        if self.first is None:
            return None
        pair = self.first[1]
        return {**pair_meta(pair), "messages": pair.messages()}

    def _add_records(
        self,
        chunk: Chunk,
        parts: dict[tuple[str, str], Part],
        written: dict[str, tuple[str, ExpressionRow]],
    ) -> None:
        """Add the chunk's scenes and wanted expressions to the parts (and to ``written``)."""
        homes: dict[tuple[str, str], set[str]] = defaultdict(set)  # part -> scenes it needs
        own = set(chunk.scene_ids)
        for expr in chunk.expressions:
            if not self.renderer.wanted(expr):
                continue
            home = next(sid for sid in expr.scene_ids if sid in own)
            key = (self._dataset(expr.style), self._split_of(home))
            parts.setdefault(key, Part()).expressions.append(expr)
            homes[key].add(home)
            written.setdefault(expr.id, (key[1], expr))
        if not self.options.by_style:
            for sid in chunk.scene_ids:
                homes[(ALL, self._split_of(sid))].add(sid)
        for key, scene_ids in homes.items():
            part = parts.setdefault(key, Part())
            part.scenes = [chunk.scenes[sid] for sid in chunk.scene_ids if sid in scene_ids]
            self.scenes_by_split[key[1]].update(scene_ids)

    def _assign_splits(self, chunk: Chunk) -> None:
        """Give the groups met for the first time a split, in the chunk's (seeded) order."""
        group_of, split_of = self.plan.group_of, self.splits.split_of
        new = {group_of[sid] for sid in chunk.scene_ids} - split_of.keys()
        if not new:  # the usual case: the plan placed every group with expressions up front
            return
        styles: dict[str, Counter] = defaultdict(Counter)
        met = ((group_of[e.scene_ids[0]], e.style) for e in chunk.expressions)
        for (group, style), n in Counter(key for key in met if key[0] in new).items():
            styles[group][style] = n
        none: Counter = Counter()
        for sid in chunk.scene_ids:
            group = group_of[sid]
            self.splits.assign(group, styles.get(group, none))

    def _split_of(self, scene_id: str) -> str:
        return self.splits.split_of[self.plan.group_of[scene_id]]

    def _capped(self, pair: Pair, split: str) -> bool:
        expr = pair.expression
        cell = (pair.direction, expr.style, expr.register, expr.tone)
        if self.cells[(split, *cell)] >= self.caps[split]:
            self.tally.capped[" ".join([cell[0], "|".join(v or "-" for v in cell[1:])])] += 1
            return True
        self.cells[(split, *cell)] += 1
        return False

    def _dataset(self, style: str | None) -> str:
        """The key of the dataset a row of this style goes to (one per style with --by-style)."""
        if not self.options.by_style:
            return ALL
        if style not in self.slugs:
            slug = _slug(style) if style is not None else NO_STYLE
            if slug in self.slugs.values():
                slug += "-" + _digest(str(style))
            self.slugs[style] = slug
            self._open_dataset(slug, style)
        return self.slugs[style]

    def _open_dataset(self, key: str, style: str | None) -> None:
        relative = "" if key == ALL else f"styles/{key}"
        formats = [
            self.classes[name](self.folder, f"{relative}/{name}".lstrip("/"), self.options)
            for name in self.options.formats
        ]
        self.datasets[key] = (style, formats)

    def _merge_small_styles(self) -> list[str]:
        """With --by-style, move every style with fewer training rows than the options' minimum
        into one MERGED dataset; returns the warning that says which and how many."""
        minimum = self.options.min_style_rows
        if not self.options.by_style or not minimum:
            return []
        train: Counter = Counter()
        for (split, _, style), n in self.tally.pairs.items():
            if split == "train":
                train[style] += n
        small = [key for key, (style, _) in self.datasets.items() if train[style] < minimum]
        if not small:
            return []
        merged = [self.datasets.pop(key) for key in small]
        key = MERGED if MERGED not in self.datasets else f"{MERGED}-{_digest(MERGED)}"
        self._open_dataset(key, None)
        for style, formats in merged:
            self.merged_styles[style if style is not None else NO_STYLE] = train[style]
            for into, fmt in zip(self.datasets[key][1], formats):
                into.absorb(fmt)
        total = sum(self.merged_styles.values())
        listed = ", ".join(f"{style} {n}" for style, n in self.merged_styles.items())
        warning = (
            f"--by-style: {len(merged)} styles have fewer than {minimum} training rows "
            f"(OpenAI's minimum is 10) and are merged into styles/{key}: {listed}"
        )
        if total < minimum:
            warning += f"; together still {total}, below the minimum"
        return [warning]

    def reverse_pairs(self) -> ReversePairs | None:
        if "reverse" not in self.options.directions:
            return None
        return ReversePairs(
            rule=REVERSE_RULE,
            made=dict(sorted(self.renderer.reverse_made.items())),
            skipped=dict(sorted(self.renderer.reverse_skipped.items())),
        )

    def close(self) -> tuple[list[OutputEntry], list[str]]:
        outputs: list[OutputEntry] = []
        warnings = self.splits.warnings + self._merge_small_styles()
        for key, (style, formats) in self.datasets.items():
            for fmt in formats:
                outputs += [_entry(key, style, fmt.name, out) for out in fmt.close()]
                warnings += fmt.warnings
                self.digests |= {path: sha.hexdigest() for path, sha in fmt.digests.items()}
        rank: dict[str, int] = {name: i for i, name in enumerate(self.options.formats)}
        outputs.sort(
            key=lambda o: (
                o.dataset != ALL,
                o.dataset,
                rank[o.format],
                list(self.options.ratios()).index(o.split),
            )
        )
        return outputs, warnings


def _entry(key: str, style: str | None, fmt: str, out: Output) -> OutputEntry:
    return OutputEntry(
        dataset=key,
        style=style,
        format=fmt,
        split=out.split,
        path=out.path,
        rows=out.rows,
        sidecar=out.sidecar,
    )


def _digest(text: str) -> str:
    """Six hex digits that tell apart two names which would otherwise be one folder."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]


def _slug(style: str) -> str:
    """A folder name for a style: lowercase letters and digits (any script), dashes between."""
    slug = re.sub(r"[^\w]+", "-", nfc(style).lower()).strip("-_")
    return slug or "style"

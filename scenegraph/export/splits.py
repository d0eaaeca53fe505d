"""Seeded train/validation/test splits by fractal group, stratified by style, and their checks.

A group (a scene tree, merged with trees it shares expressions with or holds near-duplicates
of) goes to one split whole. Given every group's style counts up front (``Plan.styles``), the
assigner first covers styles, rarest first: each split lacking a style gets a group that holds
it (the one bringing most styles that split still lacks, then the lightest), as far as the
style has groups; styles that cannot reach every split are named in ``warnings``. The other
groups follow in the order the seed draws: within its stratum (the style most of the group's
expressions have), each goes to the split furthest below its share of the expressions placed
so far. Without counts up front, groups are placed by that second rule as the export meets
them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from .selection import draw


class Leakage(BaseModel):
    """What the written files share across splits; both must be zero."""

    scenes_in_several_splits: int
    trees_in_several_splits: int
    checked_scenes: int


class SplitAssigner:
    def __init__(
        self,
        ratios: dict[str, float],
        groups: Mapping[str, Counter] | None = None,
        seed: int = 0,
    ):
        """``groups``: group key -> style -> expressions, for every group, to plan every split
        now (covering styles); without it groups are placed as ``assign`` meets them."""
        self.ratios = ratios
        self.split_of: dict[str, str] = {}  # group key -> split
        self.filled: dict[str | None, Counter] = defaultdict(Counter)  # stratum -> split -> n
        self.present: dict[str, set[str | None]] = defaultdict(set)  # split -> its styles
        self.warnings: list[str] = []
        if groups:
            order = sorted(groups, key=lambda g: (draw(seed, g), g))
            self._cover(groups, order)
            for group in order:
                self.assign(group, groups[group])
            self.warnings = self._uncovered(groups)

    def assign(self, group: str, styles: Counter) -> str:
        """The group's split, chosen now if the group is new (``styles``: its expressions)."""
        if group not in self.split_of:
            filled = self.filled[_stratum(styles)]
            total = sum(filled.values()) + _weight(styles)
            split = max(self.ratios, key=lambda name: self.ratios[name] * total - filled[name])
            self._place(group, styles, split)
        return self.split_of[group]

    def _place(self, group: str, styles: Counter, split: str) -> None:
        self.split_of[group] = split
        self.filled[_stratum(styles)][split] += _weight(styles)
        self.present[split].update(styles)

    def _cover(self, groups: Mapping[str, Counter], order: list[str]) -> None:
        """Give each split a group of each style it lacks, rarest styles first (they have the
        fewest groups to spare), splits in ratio order: a style with fewer groups than splits
        reaches train first. Ties go to the seeded order."""
        holders: dict[str | None, list[str]] = defaultdict(list)
        for group in order:
            for style in groups[group]:
                holders[style].append(group)
        for style in sorted(holders, key=lambda s: (len(holders[s]), str(s))):
            for split in self.ratios:
                have = self.present[split]
                if style in have:
                    continue
                free = [g for g in holders[style] if g not in self.split_of]
                if not free:
                    break
                best = max(free, key=lambda g: (len(groups[g].keys() - have), -_weight(groups[g])))
                self._place(best, groups[best], split)

    def _uncovered(self, groups: Mapping[str, Counter]) -> list[str]:
        """One warning per style that is not in every split, with its number of groups."""
        held = Counter(style for styles in groups.values() for style in styles)
        warnings = []
        for style in sorted(held, key=str):
            missing = [split for split in self.ratios if style not in self.present[split]]
            if missing:
                few = held[style] < len(self.ratios)
                why = "fewer than the splits" if few else "all placed elsewhere first"
                warnings.append(
                    f"style {style or 'unstyled'!r} is not in {', '.join(missing)}: its "
                    f"expressions are in {held[style]} group(s) of scenes ({why})"
                )
        return warnings


def _stratum(styles: Counter) -> str | None:
    """The style most of a group's expressions have (None for a group without any)."""
    return min(styles.items(), key=lambda kv: (-kv[1], str(kv[0])))[0] if styles else None


def _weight(styles: Counter) -> int:
    return max(sum(styles.values()), 1)


def near_duplicates_apart(
    pairs: Iterable[tuple[str, str]], group_of: Mapping[str, str], split_of: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The near-duplicate scene pairs (``Plan.near_duplicates``) whose scenes ended up in
    different splits: none unless a merge was refused as too large (see ``selection``)."""
    return [(a, b) for a, b in pairs if split_of[group_of[a]] != split_of[group_of[b]]]


def allot(total: int, ratios: dict[str, float]) -> dict[str, int]:
    """``total`` shared out by ratio, largest remainders first, so the parts add up exactly."""
    exact = {name: total * ratio for name, ratio in ratios.items()}
    parts = {name: math.floor(value) for name, value in exact.items()}
    rest = total - sum(parts.values())
    for name in sorted(exact, key=lambda n: (parts[n] - exact[n], list(ratios).index(n)))[:rest]:
        parts[name] += 1
    return parts


def check_leakage(scenes_by_split: Mapping[str, Iterable[str]], root_of: dict[str, str]) -> Leakage:
    """Count scenes, and fractal trees (by root), that appear in more than one split."""
    splits_of_scene: dict[str, set[str]] = defaultdict(set)
    splits_of_root: dict[str, set[str]] = defaultdict(set)
    for split, scene_ids in scenes_by_split.items():
        for sid in scene_ids:
            splits_of_scene[sid].add(split)
            splits_of_root[root_of[sid]].add(split)
    return Leakage(
        scenes_in_several_splits=sum(len(s) > 1 for s in splits_of_scene.values()),
        trees_in_several_splits=sum(len(s) > 1 for s in splits_of_root.values()),
        checked_scenes=len(splits_of_scene),
    )

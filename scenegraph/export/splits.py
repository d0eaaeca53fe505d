"""Seeded train/validation/test splits by fractal group, stratified by style, and their checks.

A group (a scene tree, merged with trees it shares expressions with) goes to one split whole.
Groups are assigned as the export first meets them, in the order the seed draws: within its
stratum (the style most of the group's expressions have), each group goes to the split furthest
below its share of the expressions seen so far. Small strata therefore fill train first:
stratified where the data allows it. Nothing is counted ahead, so the export reads the graph
once.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from pydantic import BaseModel


class Leakage(BaseModel):
    """What the written files share across splits; both must be zero."""

    scenes_in_several_splits: int
    trees_in_several_splits: int
    checked_scenes: int


class SplitAssigner:
    def __init__(self, ratios: dict[str, float]):
        self.ratios = ratios
        self.split_of: dict[str, str] = {}  # group key -> split
        self.filled: dict[str | None, Counter] = defaultdict(Counter)  # stratum -> split -> n

    def assign(self, group: str, styles: Counter) -> str:
        """The group's split, chosen now if the group is new (``styles``: its expressions)."""
        if group not in self.split_of:
            stratum = (
                min(styles.items(), key=lambda kv: (-kv[1], str(kv[0])))[0] if styles else None
            )
            filled = self.filled[stratum]
            weight = max(sum(styles.values()), 1)
            total = sum(filled.values()) + weight
            split = max(self.ratios, key=lambda name: self.ratios[name] * total - filled[name])
            filled[split] += weight
            self.split_of[group] = split
        return self.split_of[group]


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

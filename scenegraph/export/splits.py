"""Seeded train/validation/test splits by fractal group, stratified by style, and their checks.

A group (a scene tree, merged with trees it shares expressions with) goes to one split whole.
Groups are drawn in an order fixed by the seed; within each stratum (the group's dominant
style) each group goes to the split furthest below its share, counted in expressions. Small
strata therefore land in train first: stratified where the data allows it.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from typing import Iterable

from pydantic import BaseModel

from .selection import Plan


class Leakage(BaseModel):
    """What the written files share across splits; both must be zero."""

    scenes_in_several_splits: int
    trees_in_several_splits: int
    checked_scenes: int


def assign_splits(plan: Plan, ratios: dict[str, float], seed: int) -> None:
    """Set ``plan.order`` (seeded) and every group's ``split``."""
    plan.order = sorted(plan.groups, key=lambda key: _draw(seed, key))
    strata: dict[str | None, list[str]] = defaultdict(list)
    for key in plan.order:
        strata[plan.groups[key].style].append(key)
    for keys in strata.values():
        total = sum(_weight(plan, key) for key in keys)
        filled = dict.fromkeys(ratios, 0)
        for key in keys:
            split = max(ratios, key=lambda name: ratios[name] * total - filled[name])
            plan.groups[key].split = split
            filled[split] += _weight(plan, key)


def _weight(plan: Plan, key: str) -> int:
    return max(plan.groups[key].weight, 1)  # a group without expressions still carries scenes


def _draw(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{key}".encode("utf-8")).digest()


def allot(total: int, ratios: dict[str, float]) -> dict[str, int]:
    """``total`` shared out by ratio, largest remainders first, so the parts add up exactly."""
    exact = {name: total * ratio for name, ratio in ratios.items()}
    parts = {name: math.floor(value) for name, value in exact.items()}
    rest = total - sum(parts.values())
    for name in sorted(exact, key=lambda n: (parts[n] - exact[n], list(ratios).index(n)))[:rest]:
        parts[name] += 1
    return parts


def check_leakage(scenes_by_split: dict[str, Iterable[str]], root_of: dict[str, str]) -> Leakage:
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
        checked_scenes=len(splits_of_scene))

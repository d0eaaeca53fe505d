"""Compression (source §6.5.4: "these bases can be compressed"): keep ``budget`` of the accepted
expressions so that coverage and variety survive.

1. *Coverage first* — a greedy set cover (lazy, with a heap) keeps at least one expression for
   every scene that has an accepted one and every style present; among equal gains the better
   scored expression wins.
2. *Diversity next* — the rest of the budget is shared among styles in proportion to their
   size, and each style's share is filled by greedy k-center: the expression farthest from
   everything kept so far. Distance is cosine in the joint space of the embedding and
   character n-grams (the embedding alone sees every emoji line as the same unknown token).

The report says what was kept: scenes, styles, (scene, style) pairs, forms and registers before
and after, the mean pairwise distance and distinct-2 of the selection against all accepted
expressions, and the mean distance from an accepted expression to its nearest kept one.
Cost: O(accepted × budget) vector products — fine into the tens of thousands.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable
from typing import cast

import numpy as np
from scipy import sparse

from .data import CheckData
from .metrics import distinct_n
from .results import CompressionReport


def compress(
    data: CheckData, accepted: list[int], budget: int, quality: Callable[[int], float]
) -> CompressionReport:
    """Choose ``budget`` rows out of ``accepted`` (rows of ``data.expressions``)."""
    space = _JointSpace(data, accepted)
    chosen = _cover(data, accepted, budget, quality)
    space.keep(chosen)
    for style, quota in _quotas(data, accepted, budget, chosen).items():
        pool = [k for k, row in enumerate(accepted) if (data.expressions[row].style or "") == style]
        space.spread(pool, min(quota, budget - len(space.kept)))
    space.spread(list(range(len(accepted))), budget - len(space.kept))
    selected = [accepted[k] for k in space.kept]
    return _report(data, accepted, selected, budget, space)


def _cover(
    data: CheckData, accepted: list[int], budget: int, quality: Callable[[int], float]
) -> list[int]:
    """Positions (in ``accepted``) covering every scene and style, greedily, within budget."""
    items = [_items(data, row) for row in accepted]
    uncovered = set().union(*items) if items else set()
    heap = [
        (-len(found), -quality(row), data.expressions[row].id, k)
        for k, (row, found) in enumerate(zip(accepted, items))
    ]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and uncovered and len(chosen) < budget:
        _, rank, expr_id, k = heapq.heappop(heap)
        gain = len(items[k] & uncovered)
        if gain and heap and gain < -heap[0][0]:
            heapq.heappush(heap, (-gain, rank, expr_id, k))  # stale gain: re-rank it
            continue
        if gain:
            chosen.append(k)
            uncovered -= items[k]
    return chosen


def _items(data: CheckData, row: int) -> set[tuple[str, str]]:
    expr = data.expressions[row]
    return {("scene", s) for s in expr.scene_ids} | {("style", expr.style or "")}


def _quotas(data: CheckData, accepted: list[int], budget: int, chosen: list[int]) -> dict[str, int]:
    """Each style's share of the budget (largest remainder), minus what coverage already took."""
    sizes = Counter(data.expressions[row].style or "" for row in accepted)
    exact = {style: budget * n / len(accepted) for style, n in sizes.items()}
    shares = {style: math.floor(value) for style, value in exact.items()}
    for style in sorted(exact, key=lambda s: exact[s] - shares[s], reverse=True)[
        : budget - sum(shares.values())
    ]:
        shares[style] += 1
    taken = Counter(data.expressions[accepted[k]].style or "" for k in chosen)
    return {style: max(0, shares[style] - taken[style]) for style in sorted(shares)}


class _JointSpace:
    """Unit vectors of the accepted expressions in [embedding, n-grams] / √2, and the k-center
    state: what is kept, and each one's distance to its nearest kept one."""

    def __init__(self, data: CheckData, accepted: list[int]):
        self.dense = data.vectors[accepted] / math.sqrt(2)
        # A CSR matrix divided by a number stays CSR; scipy-stubs widen it to every format.
        self.sparse = cast(sparse.csr_matrix, data.expression_lex[accepted] / math.sqrt(2))
        self.kept: list[int] = []
        self.distance = np.full(len(accepted), 2.0)

    def similarity_to(self, k: int) -> np.ndarray:
        return self.dense @ self.dense[k] + (self.sparse @ self.sparse[k].T).toarray().ravel()

    def keep(self, positions: list[int]) -> None:
        for k in positions:
            self.kept.append(k)
            self.distance = np.minimum(self.distance, 1.0 - self.similarity_to(k))
            self.distance[k] = -1.0  # never chosen again

    def spread(self, pool: list[int], count: int) -> None:
        """Keep up to ``count`` of ``pool``, each time the one farthest from all kept."""
        pool_array = np.array(pool, dtype=int)
        for _ in range(max(0, count)):
            if not len(pool_array):
                return
            best = int(pool_array[np.argmax(self.distance[pool_array])])
            if self.distance[best] < 0:
                return
            self.keep([best])

    def mean_pairwise_distance(self, positions: list[int]) -> float:
        """1 − mean cosine over distinct pairs, from the sums of unit vectors (O(n))."""
        n = len(positions)
        if n < 2:
            return 0.0
        dense = self.dense[positions].sum(axis=0)
        sparse = np.asarray(self.sparse[positions].sum(axis=0)).ravel()
        total = float(dense @ dense + sparse @ sparse)
        units = float(
            (self.dense[positions] ** 2).sum()
            + self.sparse[positions].multiply(self.sparse[positions]).sum()
        )
        return 1.0 - (total - units) / (n * (n - 1))


def _report(
    data: CheckData, accepted: list[int], selected: list[int], budget: int, space: _JointSpace
) -> CompressionReport:
    def kept(measure: Callable[[list[int]], set]) -> tuple[int, int]:
        return len(measure(selected)), len(measure(accepted))

    exprs = data.expressions
    all_positions = list(range(len(accepted)))
    before = space.mean_pairwise_distance(all_positions)
    after = space.mean_pairwise_distance(space.kept)
    texts = [exprs[row].text for row in accepted]
    chosen_texts = [exprs[row].text for row in selected]
    nearest = np.maximum(space.distance, 0.0)
    return CompressionReport(
        budget=budget,
        accepted=len(accepted),
        selected=sorted(exprs[row].id for row in selected),
        scenes=kept(lambda rows: {s for r in rows for s in exprs[r].scene_ids}),
        styles=kept(lambda rows: {exprs[r].style for r in rows}),
        scene_styles=kept(
            lambda rows: {(s, exprs[r].style) for r in rows for s in exprs[r].scene_ids}
        ),
        forms=kept(lambda rows: {exprs[r].form for r in rows}),
        registers=kept(lambda rows: {exprs[r].register for r in rows if exprs[r].register}),
        diversity=round(after / before, 4) if before > 0 else 1.0,
        distinct_2=round(distinct_n(chosen_texts, 2) / max(1e-9, distinct_n(texts, 2)), 4),
        coverage_distance=round(float(nearest.mean()), 4) if len(nearest) else 0.0,
    )

"""Which scenes and expressions an export reads, and reading them in bounded chunks.

``plan_selection`` resolves the selection (a Cypher query, ids, archetypes, sub-scenes) and
knows, for every selected scene, its fractal group: its tree (by root), merged with trees it
shares an expression with, so a split never cuts through one, and with trees holding a
near-duplicate of one of its scenes (``near_duplicates``), so a split does not hold a copy of
what another split tests. It holds ids, per-group style counts and each scene's components
and archetypes (read for the near-duplicates; the chunks reuse them).
``read_chunks`` then pages through the selected scenes a few thousand at a time, in an order the
seed draws, with their context and their eligible expressions; nothing else is held. The reads
themselves are ``scenegraph.graph.export``'s.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations

from ..errors import ConfigError
from ..graph.base import Store
from ..graph.export import (
    ExpressionRow,
    Makeup,
    SceneView,
    evoking,
    existing_scenes,
    expression_rows,
    scene_makeups,
    scene_views,
    shared_expressions,
    style_counts,
)
from ..graph.query import user_query
from ..models import fractal_place
from .options import ExportOptions

CHUNK_SCENES = 2_000
SHOWN = 5
# Two scenes are near-duplicates when the Jaccard similarity of their signatures (components
# and archetypes) is at least NEAR: for the usual 4-9 parts, the same parts or one part more.
NEAR = 0.8
# Parts one signature may lack that the other has and still be found (exact up to 19 parts).
MAX_DELETIONS = 3
# A near-duplicate merge is skipped when the merged group would hold more than this share of
# the selection (half a 10% split; or more than the largest group of trees): chains of merges
# must not swallow a split.
NEAR_GROUP_SHARE = 0.05


@dataclass
class Plan:
    scene_ids: list[str]  # selected, sorted
    group_of: dict[str, str]  # scene id -> group key (selected scenes and scenes they share with)
    root_of: dict[str, str]  # scene id -> fractal root
    shared: dict[str, list[str]]  # expression id -> its scenes, for expressions naming several
    everything: bool  # every scene of the store is selected: its windows are dense
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)  # selected scene pairs
    styles: dict[str, Counter] = field(default_factory=dict)  # group -> style -> expressions
    makeups: dict[str, Makeup] = field(default_factory=dict)  # selected scene -> its makeup
    selected: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.selected = set(self.scene_ids)

    @property
    def trees(self) -> int:
        return len({self.group_of[sid] for sid in self.scene_ids})


@dataclass
class Chunk:
    scenes: dict[str, SceneView]  # the chunk's scenes and every other scene its expressions name
    scene_ids: list[str]  # the chunk's own scenes, in export order
    expressions: list[ExpressionRow]  # eligible, ordered by scene (export order) then id


# -- selection ----------------------------------------------------------------------------


def plan_selection(store: Store, options: ExportOptions) -> Plan:
    """Resolve the selection and group it by fractal tree."""
    parent = {child: par for par, child in store.contains_edges()}
    every_id = store.scene_ids()
    selected = _base_selection(store, options, every_id)
    if options.archetypes:
        selected = evoking(store, selected, options.archetypes)
    if options.subtree:
        selected = _with_subtrees(selected, parent)
    root_of = {sid: fractal_place(sid, parent)[1] for sid in selected}
    shared = {
        eid: ids
        for eid, ids in shared_expressions(store, options.include_failed).items()
        if selected.intersection(ids)
    }
    for scene_ids in shared.values():
        for sid in scene_ids:
            root_of.setdefault(sid, fractal_place(sid, parent)[1])
    everything = len(selected) == len(every_id)
    groups = _Groups(root_of)
    for scene_ids in shared.values():
        groups.join(scene_ids)
    makeups = scene_makeups(store, selected, everything)
    pairs = near_duplicates({sid: makeup.signature() for sid, makeup in makeups.items()})
    groups.join_near(pairs, cap=math.ceil(NEAR_GROUP_SHARE * len(selected)))
    group_of = {sid: groups.find(root) for sid, root in root_of.items()}
    styles: dict[str, Counter] = defaultdict(Counter)
    for sid, style, n in style_counts(store, selected, options.include_failed, everything):
        if not options.styles or style in options.styles:
            styles[group_of[sid]][style] += n
    return Plan(
        scene_ids=sorted(selected),
        group_of=group_of,
        root_of=root_of,
        shared=shared,
        everything=everything,
        near_duplicates=pairs,
        styles=dict(styles),
        makeups=makeups,
    )


def _base_selection(store: Store, options: ExportOptions, every_id: list[str]) -> set[str]:
    if not options.select and not options.scene_ids:
        return set(every_id)
    wanted: set[str] = set(options.scene_ids)
    if options.select:
        wanted |= _ids_from_query(store, options.select)
    missing = sorted(wanted - existing_scenes(store, wanted))
    if missing:
        raise ConfigError(
            f"{len(missing)} selected scene ids are not in the store "
            f"(first: {', '.join(missing[:SHOWN])}); check the ids or the --select query"
        )
    return wanted


def _ids_from_query(store: Store, cypher: str) -> set[str]:
    result = user_query(store, cypher)
    if not result.columns:
        raise ConfigError("--select query returns no columns; make it RETURN scene ids")
    ids: set[str] = set()
    for value in result.column(0):
        if isinstance(value, dict) and value.get("_label") == "Scene":
            value = value.get("id")
        if not isinstance(value, str):
            raise ConfigError(
                f"--select query must return scene ids (or scene nodes) in its first "
                f"column; got {value!r}"
            )
        ids.add(value)
    return ids


def _with_subtrees(ids: set[str], parent: dict[str, str]) -> set[str]:
    children: dict[str, list[str]] = defaultdict(list)
    for child, par in parent.items():
        children[par].append(child)
    out, frontier = set(ids), list(ids)
    while frontier:
        frontier = [c for sid in frontier for c in children.get(sid, ()) if c not in out]
        out.update(frontier)
    return out


class _Groups:
    """Fractal roots joined into groups (union-find over roots), with each group's size in
    scenes, so near-duplicate merges can be refused when they would grow a group too far."""

    def __init__(self, root_of: dict[str, str]):
        self.root_of = root_of
        self.leader: dict[str, str] = {}
        self.size: Counter = Counter(root_of.values())

    def find(self, root: str) -> str:
        while self.leader.get(root, root) != root:
            root = self.leader[root]
        return root

    def join(self, scene_ids: Iterable[str]) -> None:
        """Put the scenes' groups together (under the smallest key, for stable keys)."""
        heads = sorted({self.find(self.root_of[sid]) for sid in scene_ids})
        for head in heads[1:]:
            self.leader[head] = heads[0]
            self.size[heads[0]] += self.size.pop(head)

    def join_near(self, pairs: list[tuple[str, str]], cap: int) -> None:
        """Join near-duplicate scenes' groups unless the result would exceed both ``cap`` and
        the largest group before these merges: a chain of merges then stops before it takes a
        whole split; pairs left apart show in ``splits.near_duplicates_apart``."""
        limit = max(cap, max(self.size.values(), default=0))
        for a, b in pairs:
            ga, gb = self.find(self.root_of[a]), self.find(self.root_of[b])
            if ga != gb and self.size[ga] + self.size[gb] <= limit:
                self.join((a, b))


def near_duplicates(
    signatures: Mapping[str, frozenset[str]], threshold: float = NEAR
) -> list[tuple[str, str]]:
    """Pairs of scenes whose signatures have a Jaccard similarity of at least ``threshold``,
    sorted; scenes without a signature are never paired.

    Identical signatures pair each scene with the first (by id) of its signature. Distinct
    signatures are matched exactly, without comparing all pairs: if J(A, B) >= t, then A ∩ B
    keeps at least ceil(t·|A|) of A's parts and ceil(t·|B|) of B's, so A and B share a key
    among the subsets each reaches by deleting that few parts (a handful for real scenes).
    Candidates met in a key are then checked."""
    by_signature: dict[frozenset[str], list[str]] = defaultdict(list)
    for sid in sorted(signatures):
        if signatures[sid]:
            by_signature[signatures[sid]].append(sid)
    pairs = [(ids[0], other) for ids in by_signature.values() for other in ids[1:]]
    distinct = list(by_signature)
    buckets: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, signature in enumerate(distinct):
        for key in _deletion_keys(signature, threshold):
            buckets[key].append(index)
    candidates = {pair for bucket in buckets.values() for pair in combinations(bucket, 2)}
    for i, j in candidates:
        a, b = distinct[i], distinct[j]
        if len(a & b) >= threshold * len(a | b) - 1e-9:
            first, second = sorted((by_signature[a][0], by_signature[b][0]))
            pairs.append((first, second))
    return sorted(pairs)


def _deletion_keys(signature: frozenset[str], threshold: float) -> Iterator[tuple[str, ...]]:
    """The signature's subsets that keep at least ``threshold`` of it (at most MAX_DELETIONS
    parts removed), each as a sorted tuple."""
    parts = sorted(signature)
    keep = max(math.ceil(threshold * len(parts) - 1e-9), len(parts) - MAX_DELETIONS, 1)
    for size in range(len(parts), keep - 1, -1):
        yield from combinations(parts, size)


def draw(seed: int, key: str) -> bytes:
    """A seeded, stable pseudo-random sort key."""
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()


# -- reading ------------------------------------------------------------------------------


def read_chunks(
    store: Store, plan: Plan, options: ExportOptions, size: int = CHUNK_SCENES
) -> Iterator[Chunk]:
    """The selected scenes ``size`` at a time with their expressions.

    Chunks are windows of consecutive ids (what the queries read fastest), taken in an order
    the seed draws; inside a chunk, trees come in a seeded order, their scenes by id.
    """
    windows = [plan.scene_ids[i : i + size] for i in range(0, len(plan.scene_ids), size)]
    windows.sort(key=lambda window: draw(options.seed, window[0]))
    for window in windows:
        order = sorted(window, key=lambda sid: (draw(options.seed, plan.group_of[sid]), sid))
        yield _chunk(store, plan, options, order)


def _chunk(store: Store, plan: Plan, options: ExportOptions, scene_ids: list[str]) -> Chunk:
    full = "records" in options.formats
    by_scene: dict[str, list[ExpressionRow]] = {sid: [] for sid in scene_ids}
    shared_seen: set[str] = set()
    rows = sorted(
        expression_rows(store, scene_ids, options.include_failed, plan.everything, full),
        key=_by_id,
    )
    for expr in rows:
        if expr.id in plan.shared:  # met once per scene it names; written with the first one
            if expr.id in shared_seen:
                continue
            shared_seen.add(expr.id)
            expr.scene_ids = list(plan.shared[expr.id])
        home = by_scene.get(_primary(expr.scene_ids, plan.selected))
        if home is not None:
            home.append(expr)
    expressions = [expr for sid in scene_ids for expr in by_scene[sid]]
    others = set().union(*(e.scene_ids for e in expressions if len(e.scene_ids) > 1))
    views = scene_views(store, scene_ids, plan.everything, full, plan.makeups)
    if others - views.keys():
        views.update(scene_views(store, others - views.keys(), full=full))
    return Chunk(scenes=views, scene_ids=scene_ids, expressions=expressions)


def _by_id(expr: ExpressionRow) -> str:
    return expr.id


def _primary(scene_ids: list[str], selected: set[str]) -> str:
    """The selected scene an expression is written under (the first, for shared expressions)."""
    if len(scene_ids) == 1:
        return scene_ids[0]
    return min(sid for sid in scene_ids if sid in selected)

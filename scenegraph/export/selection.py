"""Which scenes and expressions an export reads, and reading them in bounded chunks.

``plan_selection`` resolves the selection (a Cypher query, ids, archetypes, sub-scenes) and
knows, for every selected scene, its fractal group: its tree (by root), merged with trees it
shares an expression with, so a split never cuts through one. It holds ids only.
``read_chunks`` then pages through the selected scenes a few thousand at a time, in an order the
seed draws, with their context and their eligible expressions; nothing else is held. The reads
themselves are ``scenegraph.graph.export``'s.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..graph.base import Store
from ..graph.export import (
    ExpressionRow,
    SceneView,
    evoking,
    existing_scenes,
    expression_rows,
    scene_views,
    shared_expressions,
)
from ..graph.query import user_query
from ..models import fractal_place
from .options import ExportOptions

CHUNK_SCENES = 2_000
SHOWN = 5


@dataclass
class Plan:
    scene_ids: list[str]  # selected, sorted
    group_of: dict[str, str]  # scene id -> group key (selected scenes and scenes they share with)
    root_of: dict[str, str]  # scene id -> fractal root
    shared: dict[str, list[str]]  # expression id -> its scenes, for expressions naming several
    everything: bool  # every scene of the store is selected: its windows are dense
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
    return Plan(
        scene_ids=sorted(selected),
        group_of=_union_roots(root_of, shared),
        root_of=root_of,
        shared=shared,
        everything=len(selected) == len(every_id),
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


def _union_roots(root_of: dict[str, str], shared: dict[str, list[str]]) -> dict[str, str]:
    """Scene -> group key: its root, merged with the roots of scenes it shares expressions with."""
    leader: dict[str, str] = {}

    def find(root: str) -> str:
        while leader.get(root, root) != root:
            root = leader[root]
        return root

    for scene_ids in shared.values():
        heads = sorted({find(root_of[sid]) for sid in scene_ids})
        for head in heads[1:]:
            leader[head] = heads[0]
    return {sid: find(root) for sid, root in root_of.items()}


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
    views = scene_views(store, scene_ids, plan.everything, full)
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

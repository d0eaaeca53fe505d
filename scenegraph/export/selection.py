"""Which scenes and expressions an export reads, and reading them in bounded chunks.

``plan_selection`` resolves the selection (a Cypher query, ids, archetypes, sub-scenes) and
groups the selected scenes by fractal root: a scene and all its sub-scenes form one group, and
groups that share an expression are merged, so a split never cuts through a tree. It holds ids
only. ``read_chunks`` then pages through the scenes in the order the splits chose, a few
thousand scenes at a time, with their context and their eligible expressions; nothing else is
held. All queries are plain Cypher that LadybugDB and Neo4j both speak.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import orjson

from ..errors import ConfigError
from ..hyperlexeme import compose
from ..models import Expression, Scene, hyperlexeme_kind
from ..store.base import Store
from .options import ExportOptions

ID_BATCH = 5_000
CHUNK_SCENES = 2_000
SHOWN = 5


@dataclass
class Group:
    """Scenes that must stay in one split: whole fractal trees (and trees sharing expressions)."""

    key: str
    scene_ids: list[str] = field(default_factory=list)
    weight: int = 0  # eligible expressions of its selected scenes
    styles: Counter = field(default_factory=Counter)
    split: str = "train"

    @property
    def style(self) -> str | None:
        """The style most of its expressions have: the stratum the split plan balances."""
        if not self.styles:
            return None
        return min(self.styles.items(), key=lambda item: (-item[1], str(item[0])))[0]


@dataclass
class Plan:
    scene_ids: set[str]
    groups: dict[str, Group]
    group_of: dict[str, str]  # scene id -> group key (selected scenes and scenes they share with)
    root_of: dict[str, str]  # scene id -> fractal root
    shared: dict[str, list[str]]  # expression id -> its scenes, for expressions naming several
    order: list[str] = field(default_factory=list)  # group keys in the order splits chose

    def scenes_in_order(self) -> Iterator[str]:
        for key in self.order:
            yield from self.groups[key].scene_ids


@dataclass
class SceneView:
    """A scene with what rendering and the records format need around it."""

    scene: Scene
    defined: bool  # False for a scene only referenced by id (no content of its own)
    parent: tuple[str, str | None] | None = None  # (id, title)
    children: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def hyperlexeme(self) -> str:
        """A stored fused hyperlexeme (the composed one if stored), else composed, else an id."""
        fused = sorted(h for h in self.scene.hyperlexemes if hyperlexeme_kind(h) == "fused")
        composed = compose(self.scene)
        if composed and (composed in fused or not fused):
            return composed
        if fused:
            return fused[0]
        return min(self.scene.hyperlexemes, default=self.scene.id)


@dataclass
class Chunk:
    scenes: dict[str, SceneView]  # the chunk's scenes and every other scene its expressions name
    scene_ids: list[str]  # the chunk's own scenes, in export order
    expressions: list[Expression]  # eligible, ordered by scene (export order) then id


# -- selection ----------------------------------------------------------------------------


def plan_selection(store: Store, options: ExportOptions) -> Plan:
    """Resolve the selection and group it by fractal root; splits are assigned afterwards."""
    parent = {child: par for par, child in store.contains_edges()}
    selected = _base_selection(store, options)
    if options.archetypes:
        selected = _evoking(store, selected, options.archetypes)
    if options.subtree:
        selected = _with_subtrees(selected, parent)
    root_of = {sid: _root(sid, parent) for sid in selected}
    shared = _shared_expressions(store, selected, options)
    for scene_ids in shared.values():
        for sid in scene_ids:
            root_of.setdefault(sid, _root(sid, parent))
    group_of = _union_roots(root_of, shared)
    groups: dict[str, Group] = {}
    for sid in sorted(selected):
        key = group_of[sid]
        groups.setdefault(key, Group(key)).scene_ids.append(sid)
    for sid, style, count in _style_counts(store, sorted(selected), options):
        group = groups[group_of[sid]]
        group.weight += count
        group.styles[style] += count
    return Plan(scene_ids=selected, groups=groups, group_of=group_of, root_of=root_of,
                shared=shared)


def _base_selection(store: Store, options: ExportOptions) -> set[str]:
    if not options.select and not options.scene_ids:
        return set(store.scene_ids())
    wanted: set[str] = set(options.scene_ids)
    if options.select:
        wanted |= _ids_from_query(store, options.select)
    missing = sorted(wanted - _existing(store, wanted))
    if missing:
        raise ConfigError(f"{len(missing)} selected scene ids are not in the store "
                          f"(first: {', '.join(missing[:SHOWN])}); check the ids or the --select query")
    return wanted


def _ids_from_query(store: Store, cypher: str) -> set[str]:
    result = store.run(cypher)
    if not result.columns:
        raise ConfigError("--select query returns no columns; make it RETURN scene ids")
    ids: set[str] = set()
    for value in result.column(0):
        if isinstance(value, dict) and value.get("_label") == "Scene":
            value = value.get("id")
        if not isinstance(value, str):
            raise ConfigError(f"--select query must return scene ids (or scene nodes) in its first "
                              f"column; got {value!r}")
        ids.add(value)
    return ids


def _existing(store: Store, ids: Iterable[str]) -> set[str]:
    return {row[0] for row in _batched(store, "MATCH (s:Scene {id: sid}) RETURN s.id", ids)}


def _evoking(store: Store, ids: set[str], archetypes: list[str]) -> set[str]:
    query = ("MATCH (s:Scene {id: sid})-[:EVOKES]->(a:Archetype) WHERE a.name IN $names "
             "RETURN DISTINCT s.id")
    return {row[0] for row in _batched(store, query, ids, names=list(archetypes))}


def _with_subtrees(ids: set[str], parent: dict[str, str]) -> set[str]:
    children: dict[str, list[str]] = defaultdict(list)
    for child, par in parent.items():
        children[par].append(child)
    out, frontier = set(ids), list(ids)
    while frontier:
        frontier = [c for sid in frontier for c in children.get(sid, ()) if c not in out]
        out.update(frontier)
    return out


def _root(scene_id: str, parent: dict[str, str]) -> str:
    node, hops = scene_id, 0
    while node in parent and hops <= len(parent):  # the loader refuses cycles; never spin
        node, hops = parent[node], hops + 1
    return node


def _eligible(options: ExportOptions) -> str:
    """The WHERE clause every expression read shares: never superseded, failed only if asked."""
    clause = "WHERE (e.status IS NULL OR e.status <> 'superseded')"
    if not options.include_failed:
        clause += " AND (e.passed IS NULL OR e.passed = true)"
    return clause


def _shared_expressions(store: Store, selected: set[str],
                        options: ExportOptions) -> dict[str, list[str]]:
    rows = store.run(f"MATCH (e:Expression)-[:EXPRESSES]->(s:Scene) {_eligible(options)} "
                     "WITH e, collect(s.id) AS ids WHERE size(ids) > 1 RETURN e.id, ids").rows
    return {eid: sorted(ids) for eid, ids in rows if selected.intersection(ids)}


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


def _style_counts(store: Store, ids: list[str], options: ExportOptions):
    query = (f"MATCH (e:Expression)-[:EXPRESSES]->(s:Scene {{id: sid}}) {_eligible(options)} "
             "RETURN s.id, e.style, count(e)")
    yield from _batched(store, query, ids)


def _batched(store: Store, match_return: str, ids: Iterable[str], **params: Any):
    ids = sorted(ids)
    for start in range(0, len(ids), ID_BATCH):
        yield from store.run("UNWIND $ids AS sid " + match_return,
                             {"ids": ids[start:start + ID_BATCH], **params}).rows


# -- reading ------------------------------------------------------------------------------


def read_chunks(store: Store, plan: Plan, options: ExportOptions,
                size: int = CHUNK_SCENES) -> Iterator[Chunk]:
    """The selected scenes in export order, ``size`` at a time, with their expressions."""
    batch: list[str] = []
    for sid in plan.scenes_in_order():
        batch.append(sid)
        if len(batch) == size:
            yield _chunk(store, plan, options, batch)
            batch = []
    if batch:
        yield _chunk(store, plan, options, batch)


def _chunk(store: Store, plan: Plan, options: ExportOptions, scene_ids: list[str]) -> Chunk:
    own = set(scene_ids)
    expressions = []
    for expr in _expressions(store, scene_ids, options):
        expr.scene_ids = list(plan.shared.get(expr.id, expr.scene_ids))
        if _primary(expr.scene_ids, plan.scene_ids) in own:
            expressions.append(expr)
    named = own.union(*(e.scene_ids for e in expressions))
    views = _views(store, sorted(named))
    rank = {sid: index for index, sid in enumerate(scene_ids)}
    expressions.sort(key=lambda e: (rank[_primary(e.scene_ids, plan.scene_ids)], e.id))
    return Chunk(scenes=views, scene_ids=scene_ids, expressions=expressions)


def _primary(scene_ids: list[str], selected: set[str]) -> str:
    """The selected scene an expression is written under (the first, for shared expressions)."""
    return min(sid for sid in scene_ids if sid in selected)


EXPRESSION_COLUMNS = ("e.id, e.text, e.form, e.style, e.register, e.tone, e.target, e.lang, "
                      "e.provenance, e.props, e.quality, e.passed, e.status")


def _expressions(store: Store, scene_ids: list[str], options: ExportOptions) -> list[Expression]:
    query = (f"MATCH (e:Expression)-[:EXPRESSES]->(s:Scene {{id: sid}}) {_eligible(options)} "
             f"RETURN {EXPRESSION_COLUMNS}, s.id")
    by_id: dict[str, Expression] = {}
    for row in _batched(store, query, scene_ids):
        if row[0] in by_id:  # a shared expression, met again under another scene
            continue
        by_id[row[0]] = Expression.model_construct(
            id=row[0], text=row[1], form=row[2], style=row[3], register=row[4], tone=row[5],
            target=row[6], lang=row[7], provenance=_loads(row[8]), props=_loads(row[9]),
            quality=_loads(row[10]) or None, passed=row[11], status=row[12] or "active",
            scene_ids=[row[13]])
    return list(by_id.values())


def _views(store: Store, ids: list[str]) -> dict[str, SceneView]:
    views = {scene.id: SceneView(scene, defined=True) for scene in store.scenes(ids)}
    for sid, defined, parent_id, parent_title in _batched(
            store, "MATCH (s:Scene {id: sid}) OPTIONAL MATCH (p:Scene)-[:CONTAINS]->(s) "
                   "RETURN s.id, s.content_hash IS NOT NULL, p.id, p.title", ids):
        views[sid].defined = bool(defined)
        if parent_id is not None:
            views[sid].parent = (parent_id, parent_title)
    for sid, child_id, child_title in _batched(
            store, "MATCH (s:Scene {id: sid})-[:CONTAINS]->(c:Scene) RETURN s.id, c.id, c.title",
            ids):
        views[sid].children.append((child_id, child_title))
    for view in views.values():
        view.children.sort()
    return views


def _loads(value: str | None) -> dict[str, Any]:
    return orjson.loads(value) if value else {}

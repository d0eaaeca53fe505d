"""Which scenes and expressions an export reads, and reading them in bounded chunks.

``plan_selection`` resolves the selection (a Cypher query, ids, archetypes, sub-scenes) and
knows, for every selected scene, its fractal group: its tree (by root), merged with trees it
shares an expression with, so a split never cuts through one. It holds ids only.
``read_chunks`` then pages through the selected scenes a few thousand at a time, in an order the
seed draws, with their context and their eligible expressions; nothing else is held.

On LadybugDB every per-chunk query binds its scenes as ``s.id >= $first AND s.id <= $last``
(plus ``AND s.id IN $ids`` unless the window holds every scene in that range): it runs that as a
bounded scan joined along adjacency lists, 10–30 times faster than ``UNWIND $ids … MATCH ({id:
sid})`` on large relationship tables (the UNWIND form joins against a scan of the whole table).
Its strings sort by code point, as Python's do. Neo4j gets ``s.id IN $ids`` alone: its index
answers that, and it sorts strings by UTF-16 unit, so a range could disagree with the window.
The queries are plain Cypher both stores speak.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from ..errors import ConfigError
from ..graph.base import Store
from ..hyperlexeme import compose
from ..models import fractal_place, hyperlexeme_kind
from .options import ExportOptions

CHUNK_SCENES = 2_000
SHOWN = 5
IN_RANGE = "MATCH (s:Scene) WHERE s.id >= $first AND s.id <= $last "
IN_WINDOW = IN_RANGE + "AND s.id IN $ids "
IN_LIST = "MATCH (s:Scene) WHERE s.id IN $ids "


@dataclass
class Plan:
    scene_ids: list[str]  # selected, sorted
    group_of: dict[str, str]  # scene id -> group key (selected scenes and scenes they share with)
    root_of: dict[str, str]  # scene id -> fractal root
    shared: dict[str, list[str]]  # expression id -> its scenes, for expressions naming several
    everything: bool  # every scene of the store is selected: an id range needs no id list
    selected: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.selected = set(self.scene_ids)

    @property
    def trees(self) -> int:
        return len({self.group_of[sid] for sid in self.scene_ids})


class ComponentRef(NamedTuple):
    kind: str
    name: str


@dataclass(slots=True)
class SceneView:
    """A stored scene as the export reads it (``models.Scene``'s fields, no validation: one is
    built per scene), with its parent, its sub-scenes' titles and whether it is defined."""

    id: str
    title: str | None = None
    text: str | None = None
    lang: str | None = None
    props: dict[str, Any] = field(default_factory=dict)
    defined: bool = True  # False for a scene only referenced by id (no content of its own)
    components: list[ComponentRef] = field(default_factory=list)
    archetypes: list[str] = field(default_factory=list)
    hyperlexemes: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    leads_to: list[str] = field(default_factory=list)
    parent: tuple[str, str | None] | None = None  # (id, title)
    children: list[tuple[str, str | None]] = field(default_factory=list)  # (id, title)

    def component_names(self, kind: str) -> list[str]:
        return [c.name for c in self.components if c.kind == kind]

    def hyperlexeme(self) -> str:
        """A stored fused hyperlexeme (the composed one if stored), else composed, else an id."""
        fused = sorted(h for h in self.hyperlexemes if hyperlexeme_kind(h) == "fused")
        composed = compose(self)
        if composed and (composed in fused or not fused):
            return composed
        if fused:
            return fused[0]
        return min(self.hyperlexemes, default=self.id)


@dataclass(slots=True)
class ExpressionRow:
    """A stored expression as the export reads it: the fields of ``models.Expression``, in a
    plain slotted class because a large export builds one per expression (a pydantic model
    costs several times more to build, validated or not)."""

    id: str
    text: str
    form: str
    style: str | None
    register: str | None
    tone: str | None
    target: str | None
    lang: str | None
    provenance: dict[str, Any]
    props: dict[str, Any]
    quality: dict[str, Any] | None
    passed: bool | None
    scene_ids: list[str]  # superseded expressions are never read, so none has a status


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
        selected = _evoking(store, selected, options.archetypes)
    if options.subtree:
        selected = _with_subtrees(selected, parent)
    root_of = {sid: fractal_place(sid, parent)[1] for sid in selected}
    shared = _shared_expressions(store, selected, options)
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
    missing = sorted(wanted - _existing(store, wanted))
    if missing:
        raise ConfigError(
            f"{len(missing)} selected scene ids are not in the store "
            f"(first: {', '.join(missing[:SHOWN])}); check the ids or the --select query"
        )
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
            raise ConfigError(
                f"--select query must return scene ids (or scene nodes) in its first "
                f"column; got {value!r}"
            )
        ids.add(value)
    return ids


def _existing(store: Store, ids: Iterable[str]) -> set[str]:
    return {row[0] for row in _in_windows(store, "RETURN s.id", ids)}


def _evoking(store: Store, ids: set[str], archetypes: list[str]) -> set[str]:
    query = "MATCH (s)-[:EVOKES]->(a:Archetype) WHERE a.name IN $names RETURN DISTINCT s.id"
    return {row[0] for row in _in_windows(store, query, ids, names=list(archetypes))}


def _with_subtrees(ids: set[str], parent: dict[str, str]) -> set[str]:
    children: dict[str, list[str]] = defaultdict(list)
    for child, par in parent.items():
        children[par].append(child)
    out, frontier = set(ids), list(ids)
    while frontier:
        frontier = [c for sid in frontier for c in children.get(sid, ()) if c not in out]
        out.update(frontier)
    return out


def _eligible(options: ExportOptions) -> str:
    """The WHERE clause of expressions to export: never superseded, failed only if asked."""
    clause = "WHERE (e.status IS NULL OR e.status <> 'superseded')"
    if not options.include_failed:
        clause += " AND (e.passed IS NULL OR e.passed = true)"
    return clause


def _shared_expressions(
    store: Store, selected: set[str], options: ExportOptions
) -> dict[str, list[str]]:
    rows = store.run(
        f"MATCH (e:Expression)-[:EXPRESSES]->(s:Scene) {_eligible(options)} "
        "WITH e, collect(s.id) AS ids WHERE size(ids) > 1 RETURN e.id, ids"
    ).rows
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


def _in_windows(
    store: Store,
    tail: str,
    ids: Iterable[str],
    size: int = CHUNK_SCENES,
    dense: bool = False,
    **params: Any,
) -> Iterator[list[Any]]:
    """Rows of ``tail`` for ``ids`` (bound as ``s``), ``size`` ids per query. ``dense``: the
    ids are every scene between the first and the last, so on LadybugDB the range alone says
    which (see the module's docstring)."""
    ids = sorted(ids)
    ranged = store.dialect == "ladybug"
    for start in range(0, len(ids), max(size, 1)):
        window = ids[start : start + size]
        bounds = {"first": window[0], "last": window[-1]}
        if not ranged:
            yield from store.run(IN_LIST + tail, {"ids": window, **params}).rows
        elif dense:
            yield from store.run(IN_RANGE + tail, {**bounds, **params}).rows
        else:
            yield from store.run(IN_WINDOW + tail, {**bounds, "ids": window, **params}).rows


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
    rows = sorted(_expressions(store, scene_ids, options, plan.everything, full), key=_by_id)
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
    views = read_views(store, scene_ids, plan.everything, full)
    if others - views.keys():
        views.update(read_views(store, others - views.keys(), full=full))
    return Chunk(scenes=views, scene_ids=scene_ids, expressions=expressions)


def _by_id(expr: ExpressionRow) -> str:
    return expr.id


def _primary(scene_ids: list[str], selected: set[str]) -> str:
    """The selected scene an expression is written under (the first, for shared expressions)."""
    if len(scene_ids) == 1:
        return scene_ids[0]
    return min(sid for sid in scene_ids if sid in selected)


def _expressions(
    store: Store, scene_ids: list[str], options: ExportOptions, dense: bool, full: bool
) -> Iterator[ExpressionRow]:
    """The eligible expressions of the scenes, one per (expression, scene) met.

    Eligibility is checked here, not in the query: a condition on expression properties makes
    LadybugDB plan the join from a scan of every expression, four times slower at 1M. An
    expression's own properties and quality report are read only when ``full`` (for the
    ``records`` format).
    """
    extra = ", e.props, e.quality" if full else ""
    tail = (
        "MATCH (e:Expression)-[:EXPRESSES]->(s) RETURN e.status, e.passed, s.id, e.id, "
        f"e.text, e.form, e.style, e.register, e.tone, e.target, e.lang, e.provenance{extra}"
    )
    failed_too = options.include_failed
    for r in _in_windows(store, tail, scene_ids, size=len(scene_ids), dense=dense):
        if r[0] == "superseded" or (r[1] is False and not failed_too):
            continue
        props, quality = (_loads(r[12]), _loads(r[13]) or None) if full else ({}, None)
        yield ExpressionRow(
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10],
            _loads(r[11]),
            props,
            quality,
            r[1],
            [r[2]],
        )


SCENE_PARTS = {
    "components": "MATCH (s)-[:HAS]->(c:Component) RETURN s.id, c.kind, c.name",
    "archetypes": "MATCH (s)-[:EVOKES]->(a:Archetype) RETURN s.id, a.name",
    "hyperlexemes": "MATCH (h:Hyperlexeme)-[:NAMES]->(s) RETURN s.id, h.form",
    "children": "MATCH (s)-[:CONTAINS]->(c:Scene) RETURN s.id, c.id, c.title",
}
RECORD_PARTS = {"leads_to": "MATCH (s)-[:LEADS_TO]->(t:Scene) RETURN s.id, t.id"}


def read_views(
    store: Store, ids: Iterable[str], dense: bool = False, full: bool = True
) -> dict[str, SceneView]:
    """The scenes with parent and sub-scenes, lists sorted as ``Store.scenes`` sorts them.
    ``full`` adds what only the ``records`` format needs: properties, onward links and
    whether the scene is defined. ``dense``: see ``_in_windows``."""
    ids = sorted(ids)
    views: dict[str, SceneView] = {}
    extra = ", s.props, s.content_hash IS NOT NULL" if full else ""
    for row in _in_windows(
        store,
        "OPTIONAL MATCH (p:Scene)-[:CONTAINS]->(s) RETURN s.id, "
        f"s.title, s.text, s.lang, p.id, p.title{extra}",
        ids,
        size=len(ids),
        dense=dense,
    ):
        view = views[row[0]] = SceneView(row[0], row[1], row[2], row[3])
        if row[4] is not None:
            view.parent = (row[4], row[5])
        if full:
            view.props, view.defined = _loads(row[6]), bool(row[7])
    for part, tail in (SCENE_PARTS | RECORD_PARTS if full else SCENE_PARTS).items():
        _add_part(views, part, _in_windows(store, tail, ids, size=len(ids), dense=dense))
    for view in views.values():
        view.components.sort()
        for values in (
            view.archetypes,
            view.hyperlexemes,
            view.parts,
            view.leads_to,
            view.children,
        ):
            values.sort()
    return views


def _add_part(views: dict[str, SceneView], part: str, rows: Iterable[list[Any]]) -> None:
    if part == "components":
        for sid, kind, name in rows:
            views[sid].components.append(ComponentRef(kind, name))
    elif part == "children":
        for sid, child, title in rows:
            views[sid].parts.append(child)
            views[sid].children.append((child, title))
    else:
        for sid, value in rows:
            getattr(views[sid], part).append(value)


def _loads(value: str | None) -> dict[str, Any]:
    return orjson.loads(value) if value else {}

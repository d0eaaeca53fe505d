"""What an export reads: scenes and expressions in id windows, in a light form.

An export may read millions of rows, so scenes and expressions come back as plain slotted
classes (``SceneView``, and ``batch.ExpressionRow``) rather than the validated ``models.Scene``
and ``models.Expression``: a pydantic model costs several times more to build, validated or not.
Reads of given scenes bind them through ``Store.window_rows``, which picks the fastest form
each backend has for a window of sorted ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from ..hyperlexeme import compose
from ..models import hyperlexeme_kind
from .base import Store
from .batch import ExpressionRow

ID_WINDOW = 2_000  # ids per query when checking a selection
# Ids per query over a dense range (every scene between two ids): no list to bind, so a window
# this wide costs a tenth of the queries (each pays a fixed ~10 ms at a million expressions).
DENSE_WINDOW = 20_000


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


def _in_windows(
    store: Store,
    tail: str,
    ids: Iterable[str],
    size: int | None = None,
    dense: bool = False,
    **params: Any,
) -> Iterator[list[Any]]:
    """Rows of ``tail`` for ``ids`` (bound as ``s``), ``size`` ids per query (by default
    DENSE_WINDOW or ID_WINDOW). ``dense``: the ids are every scene between the first and the
    last (see ``Store.window_rows``)."""
    ids = sorted(ids)
    size = size or (DENSE_WINDOW if dense else ID_WINDOW)
    for start in range(0, len(ids), size):
        window = ids[start : start + size]
        yield from store.window_rows(tail, window, dense=dense, params=params)


def existing_scenes(store: Store, ids: Iterable[str]) -> set[str]:
    """Which of the ids are scenes of the store."""
    return {row[0] for row in _in_windows(store, "RETURN s.id", ids)}


def evoking(store: Store, ids: Iterable[str], archetypes: list[str]) -> set[str]:
    """Which of the scenes evoke any of the archetypes."""
    query = "MATCH (s)-[:EVOKES]->(a:Archetype) WHERE a.name IN $names RETURN DISTINCT s.id"
    return {row[0] for row in _in_windows(store, query, ids, names=list(archetypes))}


def _eligible(include_failed: bool) -> str:
    """The WHERE clause of expressions to export: never superseded, failed only if asked."""
    clause = "WHERE (e.status IS NULL OR e.status <> 'superseded')"
    if not include_failed:
        clause += " AND (e.passed IS NULL OR e.passed = true)"
    return clause


def shared_expressions(store: Store, include_failed: bool) -> dict[str, list[str]]:
    """Expression id -> its scenes (sorted), for the exportable expressions naming several.

    Whether any expression names several scenes is asked first: grouping by node without
    reading a property costs half as much, and most corpora have none."""
    several = "MATCH (e:Expression)-[:EXPRESSES]->(:Scene) WITH e, count(*) AS n WHERE n > 1 "
    if not store.run(several + "RETURN 1 LIMIT 1").rows:
        return {}
    rows = store.run(
        f"MATCH (e:Expression)-[:EXPRESSES]->(s:Scene) {_eligible(include_failed)} "
        "WITH e, collect(s.id) AS ids WHERE size(ids) > 1 RETURN e.id, ids"
    ).rows
    return {eid: sorted(ids) for eid, ids in rows}


def expression_rows(
    store: Store, scene_ids: list[str], include_failed: bool, dense: bool, full: bool
) -> Iterator[ExpressionRow]:
    """The exportable expressions of the scenes, one per (expression, scene) met, in one query.

    Eligibility is checked here, not in the query: a condition on expression properties makes
    LadybugDB plan the join from a scan of every expression, four times slower at 1M. An
    expression's own properties and quality report are read only when ``full`` (for the
    ``records`` format). ``dense``: see ``Store.window_rows``.
    """
    extra = ", e.props, e.quality" if full else ""
    tail = (
        "MATCH (e:Expression)-[:EXPRESSES]->(s) RETURN e.status, e.passed, s.id, e.id, "
        f"e.text, e.form, e.style, e.register, e.tone, e.target, e.lang, e.provenance{extra}"
    )
    for r in _in_windows(store, tail, scene_ids, size=len(scene_ids), dense=dense):
        if r[0] == "superseded" or (r[1] is False and not include_failed):
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


def style_counts(
    store: Store, scene_ids: Iterable[str], include_failed: bool, dense: bool = False
) -> Iterator[tuple[str, str | None, int]]:
    """(scene id, style, how many exportable expressions) for the scenes, so splits can be
    planned by style before any row is read. Eligibility is checked here, as in
    ``expression_rows``, so the query keeps its fast plan."""
    tail = (
        "MATCH (e:Expression)-[:EXPRESSES]->(s) RETURN s.id, e.style, e.status, e.passed, count(*)"
    )
    for sid, style, status, passed, n in _in_windows(store, tail, scene_ids, dense=dense):
        if status == "superseded" or (passed is False and not include_failed):
            continue
        yield sid, style, n


@dataclass(slots=True)
class Makeup:
    """What a scene is made of: its components and archetypes, each sorted as a ``SceneView``
    sorts them. The plan reads them once for every selected scene (for near-duplicates) and
    the chunks take them from there instead of reading them again."""

    components: tuple[ComponentRef, ...] = ()
    archetypes: tuple[str, ...] = ()

    def signature(self) -> frozenset[str]:
        """``kind:name`` per component and ``archetype:name`` per archetype (empty for a scene
        with neither). Two scenes with the same or nearly the same signature are
        near-duplicates."""
        return frozenset(
            [f"{c.kind}:{c.name}" for c in self.components]
            + [f"archetype:{name}" for name in self.archetypes]
        )


def scene_makeups(store: Store, scene_ids: Iterable[str], dense: bool = False) -> dict[str, Makeup]:
    """Scene id -> its ``Makeup``, for every one of the scenes. Equal components and names are
    shared, so a million scenes cost little more than their ids."""
    ids = sorted(scene_ids)
    components: dict[str, list[ComponentRef]] = {sid: [] for sid in ids}
    archetypes: dict[str, list[str]] = {sid: [] for sid in ids}
    refs: dict[tuple[str, str], ComponentRef] = {}
    for sid, kind, name in _in_windows(store, SCENE_PARTS["components"], ids, dense=dense):
        ref = refs.get((kind, name)) or refs.setdefault((kind, name), ComponentRef(kind, name))
        components[sid].append(ref)
    names: dict[str, str] = {}
    for sid, name in _in_windows(store, SCENE_PARTS["archetypes"], ids, dense=dense):
        archetypes[sid].append(names.setdefault(name, name))
    return {
        sid: Makeup(tuple(sorted(components[sid])), tuple(sorted(archetypes[sid]))) for sid in ids
    }


def scene_views(
    store: Store,
    ids: Iterable[str],
    dense: bool = False,
    full: bool = True,
    makeups: Mapping[str, Makeup] | None = None,
) -> dict[str, SceneView]:
    """The scenes with parent and sub-scenes, lists sorted as ``Store.scenes`` sorts them, in
    one query per part. ``full`` adds what only the ``records`` format needs: properties,
    onward links, whether the scene is defined, and every scene's hyperlexemes (without it,
    only those of scenes whose components compose none, the only rows that name a stored one).
    ``makeups``: components and archetypes already read (``scene_makeups``), used when they
    cover every scene. ``dense``: see ``Store.window_rows``."""
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
    parts = dict(SCENE_PARTS | RECORD_PARTS if full else SCENE_PARTS)
    if makeups is not None and all(sid in makeups for sid in ids):
        del parts["components"], parts["archetypes"]
        for sid, view in views.items():
            view.components = list(makeups[sid].components)
            view.archetypes = list(makeups[sid].archetypes)
    hyperlexemes = parts.pop("hyperlexemes")
    for part, tail in parts.items():
        _add_part(views, part, _in_windows(store, tail, ids, size=len(ids), dense=dense))
    named = ids if full else [sid for sid, view in views.items() if not compose(view)]
    if named:
        dense = dense and len(named) == len(ids)
        rows = _in_windows(store, hyperlexemes, named, size=len(named), dense=dense)
        _add_part(views, "hyperlexemes", rows)
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

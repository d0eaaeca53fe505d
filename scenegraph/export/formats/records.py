"""``records``: the corpus itself, in the shapes ``scenegraph load`` reads, so it can come back.

Per scene, a 6.5.3 scene record (id, title, text, lang, components, archetypes, hyperlexemes,
parts and leads_to as ids, the scene's properties as extra fields) carrying the expressions the
6.5.1 shape cannot hold, then 6.5.1 pair records (scene, components with ``meta``,
``text_human``, ``text_alt``, style, target, register, tone, lang): a text and a symbolic
expression with the same voice share one record, as in the source. Every expression also
carries what the graph adds: ``provenance``, and ``quality`` and ``passed`` when set; an
expression's own properties are extra fields. (Superseded expressions are not exported.)

Expressions without a lang, and those of scenes known only by id, go in a bare scene record
(id and expressions only), so the loader gives them no lang of its own. Limits of the shapes:
an expression naming several scenes is written under one of them; a scene known only by id
comes back as a reference (from ``parts`` or ``leads_to``) unless it has expressions.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import zip_longest
from typing import Any, Self

import orjson

from ...graph.export import ExpressionRow, SceneView
from ...models import COMPONENT_KINDS
from ...text import canonical_json
from . import JsonLinesFormat, Part

PAIR_FORMS = {"text": "text_human", "symbolic": "text_alt"}
VOICE = ("style", "target", "register", "tone", "lang")


class RecordsFormat(JsonLinesFormat):
    """Not shuffled: these are the corpus, not training rows, and a scene's pair records follow
    its scene record as in the source."""

    name = "records"
    shuffled = False

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.bound_to_one_scene = 0

    def lines(self, part: Part) -> list[bytes]:
        here = {view.id for view in part.scenes}
        by_scene: dict[str, list[ExpressionRow]] = {}
        for expr in part.expressions:
            home = next(sid for sid in expr.scene_ids if sid in here)
            by_scene.setdefault(home, []).append(expr)
            self.bound_to_one_scene += len(expr.scene_ids) > 1
        return [
            orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
            for view in part.scenes
            for record in scene_records(view, by_scene.get(view.id, []))
        ]

    def absorb(self, other: Self) -> None:
        super().absorb(other)
        self.bound_to_one_scene += other.bound_to_one_scene

    def close(self):
        if self.bound_to_one_scene:
            self.warnings.append(
                f"records: {self.bound_to_one_scene} expressions name several scenes; the "
                "record shapes hold one scene per expression, so each was written under one"
            )
        return super().close()


def scene_records(view: SceneView, expressions: list[ExpressionRow]) -> Iterator[dict[str, Any]]:
    """The scene record (unless the scene is only a reference) and its pair records."""
    paired = [e for e in expressions if _pairable(e, view)]
    # The loader gives an expression without a lang its scene record's lang; a bare record
    # (id and expressions only) has none to give.
    bare = [
        e for e in expressions if not _pairable(e, view) and (e.lang is None or not view.defined)
    ]
    rest = [e for e in expressions if not _pairable(e, view) and e not in bare]
    if view.defined:
        yield scene_record(view, rest)
    if bare:
        yield {"id": view.id, "expressions": [expression_item(e) for e in bare]}
    yield from pair_records(view, paired)


def _pairable(expr: ExpressionRow, view: SceneView) -> bool:
    """A pair record states its scene's lang, so it can only carry an expression in that lang."""
    return (
        expr.form in PAIR_FORMS
        and len(expr.scene_ids) == 1
        and view.defined
        and expr.lang is not None
        and expr.lang == view.lang
    )


def scene_record(view: SceneView, expressions: list[ExpressionRow]) -> dict[str, Any]:
    record: dict[str, Any] = {"id": view.id}
    for name in ("title", "text", "lang"):
        if getattr(view, name) is not None:
            record[name] = getattr(view, name)
    record["components"] = components(view)
    for name in ("archetypes", "hyperlexemes", "parts", "leads_to"):
        if getattr(view, name):
            record[name] = list(getattr(view, name))
    if expressions:
        record["expressions"] = [expression_item(e) for e in expressions]
    record.update(view.props)
    return record


def components(view: SceneView, meta: bool = False) -> dict[str, list[str]]:
    """Component names by kind; with ``meta``, the archetypes too (the 6.5.1 way)."""
    out = {kind: names for kind in COMPONENT_KINDS if (names := view.component_names(kind))}
    if meta:
        out["meta"] = list(view.archetypes)
    return out


def expression_item(expr: ExpressionRow) -> dict[str, Any]:
    """An expression inside a scene record."""
    item: dict[str, Any] = {"text": expr.text, "form": expr.form}
    item.update(_voice(expr))
    item.update(_graph_fields(expr))
    return item


def pair_records(view: SceneView, expressions: list[ExpressionRow]) -> Iterator[dict[str, Any]]:
    """6.5.1 records: a text and a symbolic expression of one voice share a record."""
    by_voice: dict[str, dict[str, list[ExpressionRow]]] = {}
    for expr in sorted(expressions, key=lambda e: e.id):
        key = canonical_json([_voice(expr), _graph_fields(expr)])
        by_voice.setdefault(key, {}).setdefault(expr.form, []).append(expr)
    for forms in by_voice.values():
        for text, alt in zip_longest(forms.get("text", []), forms.get("symbolic", [])):
            first = text or alt
            record: dict[str, Any] = {"scene": view.id, "components": components(view, meta=True)}
            if text:
                record["text_human"] = text.text
            if alt:
                record["text_alt"] = alt.text
            record.update(_voice(first))
            record.update(_graph_fields(first))
            yield record


def _voice(expr: ExpressionRow) -> dict[str, Any]:
    out = {name: getattr(expr, name) for name in VOICE if getattr(expr, name) is not None}
    out.update(expr.props)
    return out


def _graph_fields(expr: ExpressionRow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if expr.provenance:
        out["provenance"] = expr.provenance
    if expr.quality is not None:
        out["quality"] = expr.quality
    if expr.passed is not None:
        out["passed"] = expr.passed
    return out

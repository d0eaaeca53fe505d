"""Rows ready for a store: every node and relationship a set of scenes and expressions makes.

A ``GraphBatch`` is what both stores' ``upsert`` take. Node rows carry every column of their
table (``None`` where the batch says nothing, so a store keeps what it had); relationship rows
carry ``src`` and ``dst`` keys plus the relationship's properties.

Scenes come in as ``models.Scene`` or anything shaped like it (``SceneLike``), expressions as
``models.Expression`` or ``ExpressionRow``: the corpus builds its rows from records validated
once, without the domain models (see ``scenegraph.corpus.build``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, Protocol

from ..models import Component, Expression, hyperlexeme_kind, scene_hash
from ..text import canonical_json
from .schema import schema


class SceneLike(Protocol):
    """What ``add_scene`` reads of a scene (its content hash is made from these)."""

    id: str
    title: str | None
    text: str | None
    lang: str | None
    components: list[Component]
    archetypes: list[str]
    hyperlexemes: list[str]
    parts: list[str]
    leads_to: list[str]
    props: dict[str, Any]
    depth: int | None
    root: str | None


@dataclass(slots=True)
class ExpressionRow:
    """An expression as plain data: the fields of ``models.Expression`` without its validation.

    What the corpus builds from records it validated once, and what the export reads back (one
    per stored expression): both make many, and a pydantic model would check each again.
    """

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
    scene_ids: list[str]
    status: Literal["active", "superseded"] = "active"


@dataclass
class GraphBatch:
    nodes: dict[str, dict[Any, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    rels: dict[str, dict[tuple, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    # rel type -> {source key: the complete set of target keys}; edges outside the set go away.
    replace: dict[str, dict[Any, list[Any]]] = field(default_factory=lambda: defaultdict(dict))

    def node(self, label: str, **values: Any) -> None:
        """Add a node row; later values for the same key fill in what earlier ones left empty."""
        self.put(label, values)

    def put(self, label: str, values: dict[str, Any]) -> None:
        """``node`` for values already in a dict (taken as the row when it names every column)."""
        rows = self.nodes[label]
        key = values[_key_column(label)]
        row = rows.get(key)
        if row is None:
            empty = _empty_row(label)
            rows[key] = values if len(values) == len(empty) else {**empty, **values}
        elif len(values) > 1:  # not just named again by its key (a part, a link's end)
            row.update((name, value) for name, value in values.items() if value is not None)

    def named(self, label: str, key: Any) -> None:
        """A node named by its key alone (a part, a link's end): a row only if it has none."""
        rows = self.nodes[label]
        if key not in rows:
            rows[key] = {**_empty_row(label), _key_column(label): key}

    def rel(self, rel_type: str, src: Any, dst: Any, **props: Any) -> None:
        row = {"src": src, "dst": dst, **_empty_row(rel_type), **props}
        self.rels[rel_type][(src, dst)] = row

    def node_rows(self, label: str) -> list[dict[str, Any]]:
        return list(self.nodes.get(label, {}).values())

    def rel_rows(self, rel_type: str) -> list[dict[str, Any]]:
        return list(self.rels.get(rel_type, {}).values())

    def replace_rows(self, rel_type: str) -> list[dict[str, Any]]:
        return [{"src": src, "keys": keys} for src, keys in self.replace.get(rel_type, {}).items()]

    def counts(self) -> dict[str, int]:
        """Rows per node label and relationship type, in the shape of ``Store.counts``."""
        return {
            **{label: len(self.nodes.get(label, {})) for label in schema().nodes},
            **{rel_type: len(self.rels.get(rel_type, {})) for rel_type in schema().rels},
        }

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.nodes.values()) + sum(
            len(rows) for rows in self.rels.values()
        )

    def add_scene(self, scene: SceneLike, defining: bool = True) -> None:
        """A scene with its edges. ``defining=False`` for a scene only referenced by id."""
        if not defining:
            self.node("Scene", id=scene.id)
            return
        sid = scene.id
        keys = [component.key for component in scene.components]
        self.put(
            "Scene",
            {
                "id": sid,
                "title": scene.title,
                "text": scene.text,
                "lang": scene.lang,
                "depth": scene.depth,
                "root": scene.root,
                "content_hash": scene_hash(
                    scene.title, scene.text, scene.lang, keys, scene.archetypes, scene.props
                ),
                "props": _json_or_none(scene.props),
            },
        )
        # The loops below are the rows of every load: built as ``node``/``rel`` build them
        # (the schema's empty row filled in), but without their keyword calls, which cost a
        # third of building a corpus's rows.
        components, has = self.nodes["Component"], self.rels["HAS"]
        component_row, has_row = _empty_row("Component"), _empty_row("HAS")
        for key, component in zip(keys, scene.components):
            if key not in components:  # its row is all in its key
                components[key] = {
                    **component_row,
                    "key": key,
                    "kind": component.kind,
                    "name": component.name,
                }
            has[(sid, key)] = {"src": sid, "dst": key, **has_row, "role": component.kind}
        archetypes, evokes = self.nodes["Archetype"], self.rels["EVOKES"]
        archetype_row, evokes_row = _empty_row("Archetype"), _empty_row("EVOKES")
        for name in scene.archetypes:
            if name not in archetypes:
                archetypes[name] = {**archetype_row, "name": name}
            evokes[(sid, name)] = {"src": sid, "dst": name, **evokes_row}
        self.replace["HAS"][sid] = keys
        self.replace["EVOKES"][sid] = list(scene.archetypes)
        for form in scene.hyperlexemes:
            self.node("Hyperlexeme", form=form, kind=hyperlexeme_kind(form))
            self.rel("NAMES", form, sid)
        for rel_type, ends in (("CONTAINS", scene.parts), ("LEADS_TO", scene.leads_to)):
            edges, edge_row = self.rels[rel_type], _empty_row(rel_type)
            for end in ends:
                self.named("Scene", end)
                edges[(sid, end)] = {"src": sid, "dst": end, **edge_row}

    def add_expression(self, expr: Expression | ExpressionRow) -> None:
        self.put(
            "Expression",
            {
                "id": expr.id,
                "text": expr.text,
                "form": expr.form,
                "style": expr.style,
                "register": expr.register,
                "tone": expr.tone,
                "target": expr.target,
                "lang": expr.lang,
                "provenance": _json_or_none(expr.provenance),
                "props": _json_or_none(expr.props),
                "quality": _json_or_none(expr.quality),
                "passed": expr.passed,
                "status": expr.status,
            },
        )
        edges, edge_row = self.rels["EXPRESSES"], _empty_row("EXPRESSES")
        for scene_id in expr.scene_ids:
            self.named("Scene", scene_id)
            edges[(expr.id, scene_id)] = {"src": expr.id, "dst": scene_id, **edge_row}

    @classmethod
    def of(
        cls,
        scenes: Iterable[SceneLike] = (),
        expressions: Iterable[Expression | ExpressionRow] = (),
    ) -> GraphBatch:
        batch = cls()
        for scene in scenes:
            batch.add_scene(scene)
        for expr in expressions:
            batch.add_expression(expr)
        return batch


@cache
def _key_column(label: str) -> str:
    return schema().nodes[label].key


@cache
def _empty_row(table: str) -> dict[str, None]:
    """Every column of a node or relationship table, empty: what each of its rows starts as."""
    nodes, rels = schema().nodes, schema().rels
    return dict.fromkeys(nodes[table].columns if table in nodes else rels[table].columns)


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return canonical_json(value) if value else None

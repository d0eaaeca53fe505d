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

import msgspec

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


class ExpressionRow(msgspec.Struct):
    """An expression as plain data: the fields of ``models.Expression`` without its validation.

    What the corpus builds from records it validated once, and what the export reads back (one
    per stored expression): both make many, and a pydantic model would check each again. A
    msgspec struct: built in C, without the dataclass's Python ``__init__``.
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
    """Rows as tuples in their table's column order (``columns``): LadybugDB's COPY takes them
    as they are, turned into columns in one transposition; ``node_rows`` and ``rel_rows``
    give them as dicts for the statements that name their columns (Neo4j, merges)."""

    # label -> {key: row}; a row holds every column of the table, None where the batch says nothing
    nodes: dict[str, dict[Any, tuple]] = field(default_factory=lambda: defaultdict(dict))
    # rel type -> {(src, dst): (src, dst, *the relationship's columns)}
    rels: dict[str, dict[tuple, tuple]] = field(default_factory=lambda: defaultdict(dict))
    # rel type -> {source key: the complete set of target keys}; edges outside the set go away.
    replace: dict[str, dict[Any, list[Any]]] = field(default_factory=lambda: defaultdict(dict))

    def node(self, label: str, **values: Any) -> None:
        """Add a node row; later values for the same key fill in what earlier ones left empty."""
        self.put(label, values)

    def put(self, label: str, values: dict[str, Any]) -> None:
        """``node`` for values already in a dict."""
        names = columns(label)
        if unknown := values.keys() - names:
            raise KeyError(f"{label} has no column {sorted(unknown)[0]!r}")
        self._row(label, values[_key_column(label)], tuple(values.get(name) for name in names))

    def _row(self, label: str, key: Any, row: tuple) -> None:
        rows = self.nodes[label]
        old = rows.get(key)
        rows[key] = row if old is None else _filled(old, row)

    def named(self, label: str, key: Any) -> None:
        """A node named by its key alone (a part, a link's end): a row only if it has none."""
        rows = self.nodes[label]
        if key not in rows:
            rows[key] = _key_row(label, key)

    def rel(self, rel_type: str, src: Any, dst: Any, **props: Any) -> None:
        names = schema().rels[rel_type].columns
        if unknown := props.keys() - names.keys():
            raise KeyError(f"{rel_type} has no column {sorted(unknown)[0]!r}")
        self.rels[rel_type][(src, dst)] = (src, dst, *(props.get(name) for name in names))

    def node_values(self, label: str) -> list[tuple]:
        """The label's rows as tuples in ``columns(label)`` order."""
        return list(self.nodes.get(label, {}).values())

    def rel_values(self, rel_type: str) -> list[tuple]:
        """The relationship rows as tuples: source key, target key, then its columns."""
        return list(self.rels.get(rel_type, {}).values())

    def node_rows(self, label: str) -> list[dict[str, Any]]:
        return node_dicts(label, self.node_values(label))

    def rel_rows(self, rel_type: str) -> list[dict[str, Any]]:
        return rel_dicts(rel_type, self.rel_values(rel_type))

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
        # The rows of every load, written as literal tuples in the schema's column order
        # (tests/test_store.py checks each against ``columns``): no per-column look-ups.
        content_hash = scene_hash(
            scene.title, scene.text, scene.lang, keys, scene.archetypes, scene.props
        )
        self._row(
            "Scene",
            sid,
            (
                sid,
                scene.title,
                scene.text,
                scene.lang,
                scene.depth,
                scene.root,
                content_hash,
                _json_or_none(scene.props),
            ),
        )
        components, has = self.nodes["Component"], self.rels["HAS"]
        for key, component in zip(keys, scene.components):
            if key not in components:  # its row is all in its key
                components[key] = (key, component.kind, component.name)
            has[(sid, key)] = (sid, key, component.kind)
        archetypes, evokes = self.nodes["Archetype"], self.rels["EVOKES"]
        for name in scene.archetypes:
            if name not in archetypes:
                archetypes[name] = (name,)
            evokes[(sid, name)] = (sid, name)
        self.replace["HAS"][sid] = keys
        self.replace["EVOKES"][sid] = list(scene.archetypes)
        for form in scene.hyperlexemes:
            self.node("Hyperlexeme", form=form, kind=hyperlexeme_kind(form))
            self.rel("NAMES", form, sid)
        for rel_type, ends in (("CONTAINS", scene.parts), ("LEADS_TO", scene.leads_to)):
            edges = self.rels[rel_type]
            for end in ends:
                self.named("Scene", end)
                edges[(sid, end)] = (sid, end)

    def add_expression(self, expr: Expression | ExpressionRow) -> None:
        self._row(
            "Expression",
            expr.id,
            (
                expr.id,
                expr.text,
                expr.form,
                expr.style,
                expr.register,
                expr.tone,
                expr.target,
                expr.lang,
                _json_or_none(expr.provenance),
                _json_or_none(expr.props),
                _json_or_none(expr.quality),
                expr.passed,
                expr.status,
            ),
        )
        edges = self.rels["EXPRESSES"]
        for scene_id in expr.scene_ids:
            self.named("Scene", scene_id)
            edges[(expr.id, scene_id)] = (expr.id, scene_id)

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
def columns(label: str) -> tuple[str, ...]:
    """A node table's columns in the order of its rows (the schema's)."""
    return tuple(schema().nodes[label].columns)


def node_dicts(label: str, rows: Iterable[tuple]) -> list[dict[str, Any]]:
    """``node_values`` rows as dicts by column name."""
    names = columns(label)
    return [dict(zip(names, row)) for row in rows]


def rel_dicts(rel_type: str, rows: Iterable[tuple]) -> list[dict[str, Any]]:
    """``rel_values`` rows as dicts: ``src``, ``dst``, then the relationship's columns."""
    names = ("src", "dst", *schema().rels[rel_type].columns)
    return [dict(zip(names, row)) for row in rows]


@cache
def _key_column(label: str) -> str:
    return schema().nodes[label].key


@cache
def key_position(label: str) -> int:
    """Where a node row (``node_values``) holds its key."""
    return columns(label).index(_key_column(label))


def _key_row(label: str, key: Any) -> tuple:
    """A row that holds only its key."""
    return tuple(key if name == _key_column(label) else None for name in columns(label))


def _filled(old: tuple, new: tuple) -> tuple:
    """``old`` with what ``new`` says in place (its None says nothing)."""
    return tuple(o if n is None else n for o, n in zip(old, new))


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return canonical_json(value) if value else None

"""Rows ready for a store: every node and relationship a set of scenes and expressions makes.

A ``GraphBatch`` is what both stores' ``upsert`` take. Node rows carry every column of their
table (``None`` where the batch says nothing, so a store keeps what it had); relationship rows
carry ``src`` and ``dst`` keys plus the relationship's properties.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..models import Expression, Scene, hyperlexeme_kind
from ..text import canonical_json
from .schema import schema


@dataclass
class GraphBatch:
    nodes: dict[str, dict[Any, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    rels: dict[str, dict[tuple, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    # rel type -> {source key: the complete set of target keys}; edges outside the set go away.
    replace: dict[str, dict[Any, list[Any]]] = field(default_factory=lambda: defaultdict(dict))

    def node(self, label: str, **values: Any) -> None:
        """Add a node row; later values for the same key fill in what earlier ones left empty."""
        table = schema().nodes[label]
        key = values[table.key]
        row = self.nodes[label].setdefault(key, dict.fromkeys(table.columns))
        for name, value in values.items():
            if value is not None:
                row[name] = value

    def rel(self, rel_type: str, src: Any, dst: Any, **props: Any) -> None:
        columns = schema().rels[rel_type].columns
        row = {"src": src, "dst": dst, **dict.fromkeys(columns)}
        row.update(props)
        self.rels[rel_type][(src, dst)] = row

    def node_rows(self, label: str) -> list[dict[str, Any]]:
        return list(self.nodes.get(label, {}).values())

    def rel_rows(self, rel_type: str) -> list[dict[str, Any]]:
        return list(self.rels.get(rel_type, {}).values())

    def replace_rows(self, rel_type: str) -> list[dict[str, Any]]:
        return [{"src": src, "keys": keys} for src, keys in self.replace.get(rel_type, {}).items()]

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.nodes.values()) + sum(
            len(rows) for rows in self.rels.values()
        )

    def add_scene(self, scene: Scene, defining: bool = True) -> None:
        """A scene with its edges. ``defining=False`` for a scene only referenced by id."""
        if not defining:
            self.node("Scene", id=scene.id)
            return
        self.node(
            "Scene",
            id=scene.id,
            title=scene.title,
            text=scene.text,
            lang=scene.lang,
            depth=scene.depth,
            root=scene.root,
            content_hash=scene.content_hash(),
            props=_json_or_none(scene.props),
        )
        for component in scene.components:
            self.node("Component", key=component.key, kind=component.kind, name=component.name)
            self.rel("HAS", scene.id, component.key, role=component.kind)
        for name in scene.archetypes:
            self.node("Archetype", name=name)
            self.rel("EVOKES", scene.id, name)
        self.replace["HAS"][scene.id] = [c.key for c in scene.components]
        self.replace["EVOKES"][scene.id] = list(scene.archetypes)
        for form in scene.hyperlexemes:
            self.node("Hyperlexeme", form=form, kind=hyperlexeme_kind(form))
            self.rel("NAMES", form, scene.id)
        for part in scene.parts:
            self.node("Scene", id=part)
            self.rel("CONTAINS", scene.id, part)
        for target in scene.leads_to:
            self.node("Scene", id=target)
            self.rel("LEADS_TO", scene.id, target)

    def add_expression(self, expr: Expression) -> None:
        self.node(
            "Expression",
            id=expr.id,
            text=expr.text,
            form=expr.form,
            style=expr.style,
            register=expr.register,
            tone=expr.tone,
            target=expr.target,
            lang=expr.lang,
            provenance=_json_or_none(expr.provenance),
            props=_json_or_none(expr.props),
            quality=_json_or_none(expr.quality),
            passed=expr.passed,
            status=expr.status,
        )
        for scene_id in expr.scene_ids:
            self.node("Scene", id=scene_id)
            self.rel("EXPRESSES", expr.id, scene_id)

    @classmethod
    def of(cls, scenes: Iterable[Scene] = (), expressions: Iterable[Expression] = ()) -> GraphBatch:
        batch = cls()
        for scene in scenes:
            batch.add_scene(scene)
        for expr in expressions:
            batch.add_expression(expr)
        return batch


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return canonical_json(value) if value else None

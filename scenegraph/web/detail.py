"""What the side panel shows for a node: a scene in full, or any other node with its scenes.

A scene is read here with one small query per part, each anchored on ``{id: $id}``, rather than
through ``Store.scene`` / ``Store.expressions``: their batched ``UNWIND $ids`` form makes
LadybugDB 0.22 scan the relationship table (0.6 s and 1.3 s per scene at 100,000 scenes, against
a few milliseconds here), and the panel asks for one scene at a time.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from itertools import groupby
from typing import Any

from pydantic import BaseModel

from ..graph.base import Store
from ..models import Component, Expression, Scene
from .graph import GraphNode, degree, expand, find_node, node_from_properties, ref

RELATED_LIMIT = 200
LINKED_SCENES_SHOWN = 50
# (relationship type, the related scene is the edge's target?) -> what it is to this scene
RELATIONS = {
    ("CONTAINS", True): "part",
    ("CONTAINS", False): "parent",
    ("LEADS_TO", True): "leads to",
    ("LEADS_TO", False): "comes from",
    ("RESONATES", True): "resonates",
    ("RESONATES", False): "resonates",
}
# Scene field -> (relationship type, query for it)
SCENE_EDGES = {
    "components": ("HAS", "MATCH (s:Scene {id: $id})-[:HAS]->(c:Component) RETURN c.kind, c.name"),
    "archetypes": ("EVOKES", "MATCH (s:Scene {id: $id})-[:EVOKES]->(a:Archetype) RETURN a.name"),
    "hyperlexemes": ("NAMES", "MATCH (h:Hyperlexeme)-[:NAMES]->(s:Scene {id: $id}) RETURN h.form"),
    "parts": ("CONTAINS", "MATCH (s:Scene {id: $id})-[:CONTAINS]->(p:Scene) RETURN p.id"),
    "leads_to": ("LEADS_TO", "MATCH (s:Scene {id: $id})-[:LEADS_TO]->(t:Scene) RETURN t.id"),
}
EXPRESSION_COLUMNS = (
    "id",
    "text",
    "form",
    "style",
    "register",
    "tone",
    "target",
    "lang",
    "provenance",
    "props",
    "quality",
    "passed",
    "status",
)
JSON_COLUMNS = ("provenance", "props", "quality")


class RelatedScene(BaseModel):
    id: str
    caption: str
    relation: str  # parent, part, leads to, comes from, resonates
    score: float | None = None


class ExpressionGroup(BaseModel):
    style: str | None
    register: str | None
    expressions: list[Expression]


class SceneDetail(BaseModel):
    node: GraphNode
    scene: Scene
    related: list[RelatedScene]
    groups: list[ExpressionGroup]  # active expressions by style, then register
    superseded: int  # expressions replaced by newer ones, not shown


class NodeDetail(BaseModel):
    node: GraphNode
    properties: dict[str, Any]
    scenes: list[GraphNode]  # the first scenes linked to it
    scene_count: int


def load_scene(
    store: Store, scene_id: str, rel_types: Collection[str] | None = None
) -> Scene | None:
    """One scene with its components, archetypes, hyperlexemes, parts and onward links;
    ``rel_types``: the relationship types that have edges at all (None: ask about each)."""
    rows = store.run(
        "MATCH (s:Scene {id: $id}) RETURN s.title, s.text, s.lang, s.depth, s.root, s.props",
        {"id": scene_id},
    ).rows
    if not rows:
        return None
    title, text, lang, depth, root, props = rows[0]
    scene = Scene(
        id=scene_id,
        title=title,
        text=text,
        lang=lang,
        depth=depth,
        root=root,
        props=json.loads(props) if props else {},
    )
    for field, (rel_type, query) in SCENE_EDGES.items():
        if rel_types is not None and rel_type not in rel_types:
            continue
        found = store.run(query, {"id": scene_id}).rows
        if field == "components":
            scene.components = sorted(
                (Component(kind=k, name=n) for k, n in found), key=lambda c: (c.kind, c.name)
            )
        else:
            setattr(scene, field, sorted(row[0] for row in found))
    return scene


def scene_expressions(store: Store, scene_id: str) -> list[Expression]:
    """Every expression of one scene, superseded ones included."""
    columns = ", ".join(f"e.{c}" for c in EXPRESSION_COLUMNS)
    rows = store.run(
        f"MATCH (e:Expression)-[:EXPRESSES]->(s:Scene {{id: $id}}) RETURN {columns}",
        {"id": scene_id},
    ).rows
    out = []
    for row in rows:
        values = dict(zip(EXPRESSION_COLUMNS, row))
        for column in JSON_COLUMNS:
            values[column] = json.loads(values[column]) if values[column] else None
        values["provenance"] = values["provenance"] or {}
        values["props"] = values["props"] or {}
        out.append(Expression(scene_ids=[scene_id], **values))
    return out


def scene_detail(
    store: Store, scene_id: str, rel_types: Collection[str] | None = None
) -> SceneDetail | None:
    scene = load_scene(store, scene_id, rel_types)
    if scene is None:
        return None
    has_expressions = rel_types is None or "EXPRESSES" in rel_types
    expressions = scene_expressions(store, scene_id) if has_expressions else []
    active = [e for e in expressions if e.status == "active"]
    return SceneDetail(
        node=node_from_properties("Scene", scene.model_dump()),
        scene=scene,
        related=related_scenes(store, scene_id, rel_types),
        groups=group_expressions(active),
        superseded=len(expressions) - len(active),
    )


def related_scenes(
    store: Store, scene_id: str, rel_types: Collection[str] | None = None
) -> list[RelatedScene]:
    """Parents, parts, scenes before and after, and resonating scenes, with their captions."""
    graph = expand(store, "Scene", scene_id, RELATED_LIMIT, others=("Scene",), rel_types=rel_types)
    captions = {n.id: n.caption for n in graph.nodes}
    center = ref("Scene", scene_id)
    out = []
    for edge in graph.edges:
        outgoing = edge.source == center
        other = edge.target if outgoing else edge.source
        out.append(
            RelatedScene(
                id=other.removeprefix("Scene:"),
                caption=captions[other],
                relation=RELATIONS[(edge.type, outgoing)],
                score=edge.score,
            )
        )
    return out


def group_expressions(expressions: list[Expression]) -> list[ExpressionGroup]:
    def voice(e: Expression) -> tuple[str, str]:
        return e.style or "", e.register or ""

    ordered = sorted(expressions, key=lambda e: (*voice(e), e.form, e.id))
    return [
        ExpressionGroup(style=style or None, register=register or None, expressions=list(items))
        for (style, register), items in groupby(ordered, key=voice)
    ]


def node_detail(
    store: Store, label: str, key: str, rel_types: Collection[str] | None = None
) -> NodeDetail | None:
    found = find_node(store, label, key)
    if found is None:
        return None
    node, properties = found
    linked = expand(store, label, key, LINKED_SCENES_SHOWN, others=("Scene",), rel_types=rel_types)
    return NodeDetail(
        node=node,
        properties=properties,
        scenes=linked.nodes,
        scene_count=degree(store, label, key, others=("Scene",), rel_types=rel_types),
    )

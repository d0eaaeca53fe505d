"""What the side panel shows for a node: a scene in full, or any other node with its scenes.

A scene is ``Store.scene`` and ``Store.expressions`` of its one id (index lookups, a few
milliseconds at 100,000 scenes), its family the scenes ``expand`` finds around it.
"""

from __future__ import annotations

from collections.abc import Collection
from itertools import groupby
from typing import Any

from pydantic import BaseModel

from ..graph.base import Store
from ..graph.explorer import degree
from ..models import Expression, Scene
from .graph import GraphNode, expand, find_node, node_from_properties, ref

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


def scene_detail(
    store: Store, scene_id: str, rel_types: Collection[str] | None = None
) -> SceneDetail | None:
    """The scene, its family and its expressions (superseded ones counted, not shown);
    ``rel_types``: the relationship types that have edges at all (None: ask about each)."""
    scene = store.scene(scene_id, rel_types)
    if scene is None:
        return None
    has_expressions = rel_types is None or "EXPRESSES" in rel_types
    expressions = store.expressions([scene_id], status=None) if has_expressions else []
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

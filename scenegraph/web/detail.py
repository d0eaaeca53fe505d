"""What the side panel shows for a node: a scene in full, or any other node with its scenes."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from pydantic import BaseModel

from ..models import Expression, Scene
from ..store.base import Store
from .graph import GraphNode, degree, expand, find_node, node_from_properties, ref

RELATED_LIMIT = 200
LINKED_SCENES_SHOWN = 50
# (relationship type, the related scene is the edge's target?) -> what it is to this scene
RELATIONS = {("CONTAINS", True): "part", ("CONTAINS", False): "parent",
             ("LEADS_TO", True): "leads to", ("LEADS_TO", False): "comes from",
             ("RESONATES", True): "resonates", ("RESONATES", False): "resonates"}


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


def scene_detail(store: Store, scene_id: str) -> SceneDetail | None:
    scene = store.scene(scene_id)
    if scene is None:
        return None
    node = node_from_properties("Scene", scene.model_dump())
    superseded = store.run("MATCH (e:Expression)-[:EXPRESSES]->(s:Scene {id: $id}) "
                           "WHERE e.status = 'superseded' RETURN count(e)", {"id": scene_id})
    return SceneDetail(node=node, scene=scene, related=related_scenes(store, scene_id),
                       groups=group_expressions(store.expressions([scene_id])),
                       superseded=superseded.rows[0][0])


def related_scenes(store: Store, scene_id: str) -> list[RelatedScene]:
    """Parents, parts, scenes before and after, and resonating scenes, with their captions."""
    graph = expand(store, "Scene", scene_id, RELATED_LIMIT, others=("Scene",))
    captions = {n.id: n.caption for n in graph.nodes}
    center = ref("Scene", scene_id)
    out = []
    for edge in graph.edges:
        outgoing = edge.source == center
        other = edge.target if outgoing else edge.source
        out.append(RelatedScene(id=other.removeprefix("Scene:"), caption=captions[other],
                                relation=RELATIONS[(edge.type, outgoing)], score=edge.score))
    return out


def group_expressions(expressions: list[Expression]) -> list[ExpressionGroup]:
    def voice(e: Expression) -> tuple[str, str]:
        return e.style or "", e.register or ""

    ordered = sorted(expressions, key=lambda e: (*voice(e), e.form, e.id))
    return [ExpressionGroup(style=style or None, register=register or None,
                            expressions=list(items))
            for (style, register), items in groupby(ordered, key=voice)]


def node_detail(store: Store, label: str, key: str) -> NodeDetail | None:
    found = find_node(store, label, key)
    if found is None:
        return None
    node, properties = found
    linked = expand(store, label, key, LINKED_SCENES_SHOWN, others=("Scene",))
    return NodeDetail(node=node, properties=properties, scenes=linked.nodes,
                      scene_count=degree(store, label, key, others=("Scene",)))

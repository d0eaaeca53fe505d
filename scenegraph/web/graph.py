"""What the explorer draws: nodes and edges named by label and key, read through
``scenegraph.graph.explorer``.

A node on the canvas is named ``Label:key`` (``Scene:Δ42``, ``Component:agent:тело``), where
the key is the property ``schema()`` declares for the label.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any, cast

from pydantic import BaseModel

from ..graph import explorer
from ..graph.base import Store
from ..graph.explorer import CAPTION_CHARS, NodeRow
from ..graph.schema import schema

# Edges that say "alike" rather than "part of" or "next": drawn dashed.
SEMANTIC_TYPES = frozenset({"RESONATES", "SIMILAR"})
# Expressions stay in the side panel: a scene may have dozens and they would bury the graph.
EXPANDED_LABELS = ("Scene", "Component", "Archetype", "Hyperlexeme")


class GraphNode(BaseModel):
    id: str  # Label:key
    label: str
    key: str
    caption: str
    kind: str = ""  # component kind, hyperlexeme kind, expression form


class GraphEdge(BaseModel):
    id: str
    source: str
    target: str
    type: str  # a relationship type, or SIMILAR for a neighbour found by the vector index
    score: float | None = None
    semantic: bool = False
    reasons: list[str] = []


class Graph(BaseModel):
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    truncated: bool = False
    notices: list[str] = []

    def merge(self, other: Graph) -> Graph:
        nodes = {n.id: n for n in [*self.nodes, *other.nodes]}
        edges = {e.id: e for e in [*self.edges, *other.edges]}
        return Graph(
            nodes=list(nodes.values()),
            edges=list(edges.values()),
            truncated=self.truncated or other.truncated,
            notices=[*self.notices, *other.notices],
        )


def ref(label: str, key: Any) -> str:
    return f"{label}:{key}"


def caption(text: Any) -> str:
    """One short line for the canvas."""
    line = " ".join(str(text if text is not None else "").split())
    return line if len(line) <= CAPTION_CHARS else line[: CAPTION_CHARS - 1] + "…"


def make_edge(
    rel_type: str,
    source: str,
    target: str,
    score: float | None = None,
    reasons: list[str] | None = None,
) -> GraphEdge:
    return GraphEdge(
        id=f"{rel_type}|{source}|{target}",
        source=source,
        target=target,
        type=rel_type,
        score=score,
        semantic=rel_type in SEMANTIC_TYPES,
        reasons=reasons or [],
    )


def node_from_properties(label: str, props: dict[str, Any]) -> GraphNode | None:
    """A canvas node from a node's properties (a Cypher result), or None without its key."""
    row = explorer.node_row(label, props)
    return None if row is None else graph_node(row)


def graph_node(row: NodeRow) -> GraphNode:
    return GraphNode(
        id=ref(row.label, row.key),
        label=row.label,
        key=str(row.key),
        caption=caption(row.text if row.text else row.key),
        kind=str(row.kind or ""),
    )


def expand(
    store: Store,
    label: str,
    key: str,
    limit: int,
    others: Iterable[str] = EXPANDED_LABELS,
    rel_types: Collection[str] | None = None,
) -> Graph:
    """The node's direct neighbours over every relationship type, at most ``limit`` in all;
    ``rel_types``: the types worth asking about (None: all)."""
    found = explorer.neighbourhood(store, label, key, limit, others, rel_types)
    center = ref(label, key)
    graph = Graph(truncated=found.truncated)
    for rel_type, outgoing, row, score in found.neighbours:
        node = graph_node(row)
        graph.nodes.append(node)
        source, target = (center, node.id) if outgoing else (node.id, center)
        graph.edges.append(make_edge(rel_type, source, target, score))
    if graph.truncated:
        graph.notices.append(
            f"{center}: showing the first {limit} neighbours; raise the limit to see more"
        )
    return graph


def find_node(store: Store, label: str, key: str) -> tuple[GraphNode, dict[str, Any]] | None:
    """A node and its properties, or None when the store has no such node."""
    props = explorer.node_properties(store, label, key)
    if props is None:
        return None
    # Matched by its key, so the node has one: node_from_properties gives no None here.
    return cast(GraphNode, node_from_properties(label, props)), props


def scene_nodes(store: Store, ids: Iterable[str]) -> dict[str, GraphNode]:
    """Scene nodes for the ids that exist, by id, with their captions."""
    return {row.key: graph_node(row) for row in explorer.scene_rows(store, ids)}


def nodes_in(values: Iterable[Any]) -> Iterator[GraphNode]:
    """Every node found anywhere in Cypher result values (paths, lists and maps included)."""
    for value in values:
        if isinstance(value, dict):
            label = value.get("_label")
            if label in schema().nodes:
                if found := node_from_properties(label, value):
                    yield found
            else:
                yield from nodes_in(value.values())
        elif isinstance(value, list):
            yield from nodes_in(value)


def connect(store: Store, nodes: Iterable[GraphNode]) -> list[GraphEdge]:
    """Every stored relationship between the given nodes."""
    pairs = [(node.label, node.key) for node in nodes]
    return [
        make_edge(edge.rel_type, ref(*edge.source), ref(*edge.target), edge.score)
        for edge in explorer.edges_between(store, pairs)
    ]

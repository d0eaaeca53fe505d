"""What the explorer draws: nodes and edges named by label and key, read through the Store.

A node on the canvas is named ``Label:key`` (``Scene:Δ42``, ``Component:agent:тело``), where
the key is the property ``schema()`` declares for the label. The queries are the plain Cypher
both stores speak: typed patterns, ``UNION ALL`` of typed branches, no dialect functions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from typing import Any, cast

from pydantic import BaseModel

from ..errors import ConfigError
from ..graph.base import Store
from ..graph.schema import schema

CAPTION_CHARS = 48
# Per label, the properties a caption is taken from (the first one set; else the key).
CAPTION_PROPERTIES = {
    "Scene": ("title", "text"),
    "Component": ("name",),
    "Archetype": ("name",),
    "Hyperlexeme": ("form",),
    "Expression": ("text",),
}
KIND_PROPERTY = {"Component": "kind", "Hyperlexeme": "kind", "Expression": "form"}
SCORED = {"RESONATES": "score"}
# Edges that say "alike" rather than "part of" or "next": drawn dashed.
SEMANTIC_TYPES = frozenset({"RESONATES", "SIMILAR"})
# The order neighbours come in, so a limit cuts components before the scene's own family.
BRANCH_ORDER = ("CONTAINS", "LEADS_TO", "RESONATES", "EVOKES", "NAMES", "HAS", "EXPRESSES")
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


def check_label(label: str) -> str:
    """Labels go into query text, so only the schema's own are accepted."""
    if label not in schema().nodes:
        raise ConfigError(f"unknown label {label!r}: use one of {', '.join(schema().nodes)}")
    return label


def node_from_properties(label: str, props: dict[str, Any]) -> GraphNode | None:
    """A canvas node from a node's properties (a Cypher result), or None without its key."""
    key = props.get(schema().key_of(label))
    if key is None:
        return None
    text = next((props[p] for p in CAPTION_PROPERTIES[label] if props.get(p)), None)
    return _node(label, key, text, props.get(KIND_PROPERTY.get(label, "")))


def _node(label: str, key: Any, text: Any, kind: Any) -> GraphNode:
    return GraphNode(
        id=ref(label, key),
        label=label,
        key=str(key),
        caption=caption(text if text else key),
        kind=str(kind or ""),
    )


def _columns(label: str, var: str = "n") -> str:
    """RETURN columns giving a node's key, caption text and kind, in that order.

    No property is returned twice (LadybugDB 0.22 crashes on a UNION ALL branch with LIMIT that
    does), so where the caption is the key itself the column is empty and ``_node`` falls
    back to the key.
    """
    key = schema().key_of(label)
    texts = [f"{var}.{p}" for p in CAPTION_PROPERTIES[label] if p != key]
    if not texts:
        text = "''"
    elif len(texts) == 1:
        text = texts[0]
    else:
        text = f"coalesce({', '.join(texts)})"
    kind = f"{var}.{KIND_PROPERTY[label]}" if label in KIND_PROPERTY else "''"
    return f"{var}.{key} AS key, left({text}, {CAPTION_CHARS}) AS caption, {kind} AS kind"


def _branches(
    label: str, others: Iterable[str], rel_types: Collection[str] | None
) -> list[tuple[str, bool, str]]:
    """(relationship type, outgoing?, label at the other end) for the edges a label can have."""
    others = set(others)
    out = []
    for rel in schema().rels.values():
        if rel_types is not None and rel.type not in rel_types:
            continue
        if rel.source == label and rel.target in others:
            out.append((rel.type, True, rel.target))
        if rel.target == label and rel.source in others:
            out.append((rel.type, False, rel.source))
    return sorted(out, key=lambda branch: _rank(branch[0]))


def _rank(rel_type: str) -> int:
    return BRANCH_ORDER.index(rel_type) if rel_type in BRANCH_ORDER else len(BRANCH_ORDER)


def _pattern(label: str, rel_type: str, outgoing: bool, other: str) -> str:
    arrow = f"-[r:{rel_type}]->" if outgoing else f"<-[r:{rel_type}]-"
    return f"MATCH (c:{label} {{{schema().key_of(label)}: $key}}){arrow}(n:{other})"


def expand(
    store: Store,
    label: str,
    key: str,
    limit: int,
    others: Iterable[str] = EXPANDED_LABELS,
    rel_types: Collection[str] | None = None,
) -> Graph:
    """The node's direct neighbours over every relationship type, at most ``limit`` in all.

    One round trip: a ``UNION ALL`` with a branch per relationship type and direction, each cut
    at ``limit + 1`` rows. ``rel_types`` names the types worth asking about (LadybugDB answers a
    pattern over an empty relationship table slowly); None asks about all. The limit is written
    into the query, not passed as a parameter, and rows are sorted here rather than by the
    query: LadybugDB plans both forms several times slower.
    """
    center = ref(check_label(label), key)
    branches = _branches(label, others, rel_types)
    if not branches:
        return Graph()
    queries = []
    for index, (rel_type, outgoing, other) in enumerate(branches):
        score = f"r.{SCORED[rel_type]}" if rel_type in SCORED else "1.0"
        queries.append(
            f"{_pattern(label, rel_type, outgoing, other)} RETURN {index} AS branch, "
            f"{_columns(other)}, {score} AS score LIMIT {int(limit) + 1}"
        )
    rows = store.run(" UNION ALL ".join(queries), {"key": key}).rows
    rows.sort(key=lambda row: (row[0], str(row[1])))
    graph = Graph(truncated=len(rows) > limit)
    for branch, other_key, text, kind, score in rows[:limit]:
        rel_type, outgoing, other = branches[branch]
        node = _node(other, other_key, text, kind)
        graph.nodes.append(node)
        source, target = (center, node.id) if outgoing else (node.id, center)
        graph.edges.append(
            make_edge(rel_type, source, target, score if rel_type in SCORED else None)
        )
    if graph.truncated:
        graph.notices.append(
            f"{center}: showing the first {limit} neighbours; raise the limit to see more"
        )
    return graph


def degree(
    store: Store,
    label: str,
    key: str,
    others: Iterable[str] = EXPANDED_LABELS,
    rel_types: Collection[str] | None = None,
) -> int:
    """How many neighbours ``expand`` could show without a limit."""
    return sum(
        store.run(f"{_pattern(label, *branch)} RETURN count(n)", {"key": key}).rows[0][0]
        for branch in _branches(check_label(label), others, rel_types)
    )


def find_node(store: Store, label: str, key: str) -> tuple[GraphNode, dict[str, Any]] | None:
    """A node and its properties, or None when the store has no such node."""
    rows = store.run(
        f"MATCH (n:{check_label(label)} {{{schema().key_of(label)}: $key}}) RETURN n", {"key": key}
    ).rows
    if not rows:
        return None
    props = {k: v for k, v in rows[0][0].items() if not k.startswith("_")}
    # Matched by its key, so the node has one: node_from_properties gives no None here.
    return cast(GraphNode, node_from_properties(label, props)), props


def scene_nodes(store: Store, ids: Iterable[str]) -> dict[str, GraphNode]:
    """Scene nodes for the ids that exist, by id, with their captions."""
    rows = store.run(
        f"UNWIND $ids AS sid MATCH (n:Scene {{id: sid}}) RETURN {_columns('Scene')}",
        {"ids": list(dict.fromkeys(ids))},
    ).rows
    return {key: _node("Scene", key, text, kind) for key, text, kind in rows}


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
    """Every stored relationship between the given nodes (what Neo4j Browser calls
    "connect result nodes"): one query per relationship type whose ends are both present."""
    keys: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        keys[node.label].append(node.key)
    edges = []
    for rel in schema().rels.values():
        if not (keys.get(rel.source) and keys.get(rel.target)):
            continue
        src_key, dst_key = schema().key_of(rel.source), schema().key_of(rel.target)
        score = f"r.{SCORED[rel.type]}" if rel.type in SCORED else "1.0"
        rows = store.run(
            f"UNWIND $src AS k MATCH (a:{rel.source} {{{src_key}: k}})-[r:{rel.type}]->"
            f"(b:{rel.target}) WHERE b.{dst_key} IN $dst RETURN a.{src_key}, b.{dst_key}, {score}",
            {"src": keys[rel.source], "dst": keys[rel.target]},
        ).rows
        edges += [
            make_edge(
                rel.type, ref(rel.source, a), ref(rel.target, b), s if rel.type in SCORED else None
            )
            for a, b, s in rows
        ]
    return edges

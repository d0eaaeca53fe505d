"""What the web explorer reads: a node's neighbourhood, a node by its key, scene captions, the
relationships among a set of nodes, the facets, the filter, and the search box's lookups.

A node is named by label and key, the key being the property ``schema()`` declares for the
label. The queries are the plain Cypher both stores speak: typed patterns, ``UNION ALL`` of
typed branches, no dialect functions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

from pydantic import BaseModel

from ..errors import ConfigError
from .base import Store
from .schema import schema

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
# The order neighbours come in, so a limit cuts components before the scene's own family.
BRANCH_ORDER = ("CONTAINS", "LEADS_TO", "RESONATES", "EVOKES", "NAMES", "HAS", "EXPRESSES")


class NodeRow(NamedTuple):
    """A node as the explorer shows it: its caption text (None: the key is its caption) and
    its kind (a component's kind, a hyperlexeme's kind, an expression's form)."""

    label: str
    key: Any
    text: Any
    kind: Any


class Neighbour(NamedTuple):
    """A node next to the centre, the edge between them, and the edge's score (scored types)."""

    rel_type: str
    outgoing: bool  # the edge goes from the centre to this node
    node: NodeRow
    score: float | None


class Neighbourhood(NamedTuple):
    neighbours: list[Neighbour]
    truncated: bool  # the centre has more neighbours than the limit


class EdgeRow(NamedTuple):
    """A stored relationship between two nodes, by label and key."""

    rel_type: str
    source: tuple[str, Any]
    target: tuple[str, Any]
    score: float | None


class Facets(BaseModel):
    """What a selection can be narrowed by: archetype names and expression styles."""

    archetypes: list[str]
    styles: list[str]


def check_label(label: str) -> str:
    """Labels go into query text, so only the schema's own are accepted."""
    if label not in schema().nodes:
        raise ConfigError(f"unknown label {label!r}: use one of {', '.join(schema().nodes)}")
    return label


def node_row(label: str, props: dict[str, Any]) -> NodeRow | None:
    """A node from its properties (a Cypher result), or None without its key."""
    key = props.get(schema().key_of(label))
    if key is None:
        return None
    text = next((props[p] for p in CAPTION_PROPERTIES[label] if props.get(p)), None)
    return NodeRow(label, key, text, props.get(KIND_PROPERTY.get(label, "")))


def relationship_types_with_edges(store: Store) -> set[str]:
    """Relationship types that have edges: asking about an empty one is slow in LadybugDB, so
    the explorer's reads take this set and leave the others out."""
    counts = store.counts()
    return {rel_type for rel_type in schema().rels if counts[rel_type]}


def _columns(label: str, var: str = "n") -> str:
    """RETURN columns giving a node's key, caption text and kind, in that order.

    No property is returned twice (LadybugDB 0.22 crashes on a UNION ALL branch with LIMIT that
    does), so where the caption is the key itself the column is empty and the key serves.
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


def _score(rel_type: str) -> str:
    return f"r.{SCORED[rel_type]}" if rel_type in SCORED else "1.0"


def neighbourhood(
    store: Store,
    label: str,
    key: str,
    limit: int,
    others: Iterable[str],
    rel_types: Collection[str] | None = None,
) -> Neighbourhood:
    """The node's direct neighbours with labels in ``others``, over every relationship type,
    at most ``limit`` in all, in ``BRANCH_ORDER``.

    One round trip: a ``UNION ALL`` with a branch per relationship type and direction, each cut
    at ``limit + 1`` rows. ``rel_types`` names the types worth asking about (see
    ``relationship_types_with_edges``); None asks about all. The limit is written into the
    query, not passed as a parameter, and rows are sorted here rather than by the query:
    LadybugDB plans both forms several times slower.
    """
    branches = _branches(check_label(label), others, rel_types)
    if not branches:
        return Neighbourhood([], False)
    queries = [
        f"{_pattern(label, rel_type, outgoing, other)} RETURN {index} AS branch, "
        f"{_columns(other)}, {_score(rel_type)} AS score LIMIT {int(limit) + 1}"
        for index, (rel_type, outgoing, other) in enumerate(branches)
    ]
    rows = store.run(" UNION ALL ".join(queries), {"key": key}).rows
    rows.sort(key=lambda row: (row[0], str(row[1])))
    found = []
    for branch, other_key, text, kind, score in rows[:limit]:
        rel_type, outgoing, other = branches[branch]
        node = NodeRow(other, other_key, text, kind)
        found.append(Neighbour(rel_type, outgoing, node, score if rel_type in SCORED else None))
    return Neighbourhood(found, len(rows) > limit)


def degree(
    store: Store,
    label: str,
    key: str,
    others: Iterable[str],
    rel_types: Collection[str] | None = None,
) -> int:
    """How many neighbours ``neighbourhood`` could give without a limit."""
    return sum(
        store.run(f"{_pattern(label, *branch)} RETURN count(n)", {"key": key}).rows[0][0]
        for branch in _branches(check_label(label), others, rel_types)
    )


def node_properties(store: Store, label: str, key: str) -> dict[str, Any] | None:
    """A node's properties, or None when the store has no such node."""
    rows = store.run(
        f"MATCH (n:{check_label(label)} {{{schema().key_of(label)}: $key}}) RETURN n", {"key": key}
    ).rows
    if not rows:
        return None
    return {k: v for k, v in rows[0][0].items() if not k.startswith("_")}


def scene_rows(store: Store, ids: Iterable[str]) -> list[NodeRow]:
    """The scenes of the ids that exist, with their captions."""
    rows = store.run(
        f"UNWIND $ids AS sid MATCH (n:Scene {{id: sid}}) RETURN {_columns('Scene')}",
        {"ids": list(dict.fromkeys(ids))},
    ).rows
    return [NodeRow("Scene", key, text, kind) for key, text, kind in rows]


def edges_between(store: Store, nodes: Iterable[tuple[str, Any]]) -> list[EdgeRow]:
    """Every stored relationship between the given (label, key) nodes (what Neo4j Browser
    calls "connect result nodes"): one query per relationship type whose ends are present."""
    keys: dict[str, list[Any]] = defaultdict(list)
    for label, key in nodes:
        keys[label].append(key)
    edges = []
    for rel in schema().rels.values():
        if not (keys.get(rel.source) and keys.get(rel.target)):
            continue
        src_key, dst_key = schema().key_of(rel.source), schema().key_of(rel.target)
        rows = store.run(
            f"UNWIND $src AS k MATCH (a:{rel.source} {{{src_key}: k}})-[r:{rel.type}]->"
            f"(b:{rel.target}) WHERE b.{dst_key} IN $dst "
            f"RETURN a.{src_key}, b.{dst_key}, {_score(rel.type)}",
            {"src": keys[rel.source], "dst": keys[rel.target]},
        ).rows
        edges += [
            EdgeRow(rel.type, (rel.source, a), (rel.target, b), s if rel.type in SCORED else None)
            for a, b, s in rows
        ]
    return edges


def facets(store: Store, limit: int) -> Facets:
    """The first ``limit`` archetype names and expression styles, sorted."""
    archetypes = store.run(
        "MATCH (a:Archetype) RETURN a.name ORDER BY a.name LIMIT $n", {"n": limit}
    ).column()
    styles = store.run(
        "MATCH (e:Expression) WHERE e.style IS NOT NULL "
        "RETURN DISTINCT e.style AS style ORDER BY style LIMIT $n",
        {"n": limit},
    ).column()
    return Facets(archetypes=archetypes, styles=styles)


def matching_scenes(
    store: Store, scene_ids: list[str], archetype: str | None, style: str | None
) -> list[str]:
    """The given scenes that evoke the archetype and have an expression in the style (either
    left out: not asked), sorted."""
    ids: list[Any] = list(dict.fromkeys(scene_ids))
    if archetype:
        ids = store.run(
            "UNWIND $ids AS sid MATCH (s:Scene {id: sid})-[:EVOKES]->"
            "(:Archetype {name: $name}) RETURN s.id",
            {"ids": ids, "name": archetype},
        ).column()
    if style and ids:
        ids = store.run(
            "UNWIND $ids AS sid MATCH (e:Expression)-[:EXPRESSES]->(s:Scene {id: sid}) "
            "WHERE e.style = $style RETURN DISTINCT s.id",
            {"ids": ids, "style": style},
        ).column()
    return sorted(ids)


def has_scene(store: Store, scene_id: str) -> bool:
    return bool(store.run("MATCH (s:Scene {id: $id}) RETURN s.id", {"id": scene_id}).rows)


def scenes_with_words(store: Store, words: str, limit: int) -> list[str]:
    """The first ``limit`` scenes (by id) whose title or text contains ``words``, any case."""
    return store.run(
        "MATCH (s:Scene) WHERE toLower(s.title) CONTAINS $q "
        "OR toLower(s.text) CONTAINS $q RETURN s.id ORDER BY s.id LIMIT $k",
        {"q": words.lower(), "k": limit},
    ).column()

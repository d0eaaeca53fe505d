"""What ``scenegraph.neighbours`` asks the graph: how two scenes are tied, where a scene sits
in its tree, which scenes a hyperlexeme names, and the RESONATES edges it writes.

Every query is anchored on one scene id (an index lookup) and is plain Cypher both stores speak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from .base import Store
from .batch import GraphBatch

MAX_TREE_STEPS = 30

TieKind = Literal["leads_to", "comes_from", "shares_component", "shares_archetype"]
# Each query gives (other scene, detail) rows for the scene ``$id``.
TIE_QUERIES: dict[TieKind, str] = {
    # detail: this scene's id
    "leads_to": "MATCH (s:Scene {id: $id})-[:LEADS_TO]->(o:Scene) WHERE o.id <> $id "
    "RETURN o.id, s.id",
    "comes_from": "MATCH (o:Scene)-[:LEADS_TO]->(s:Scene {id: $id}) WHERE o.id <> $id "
    "RETURN o.id, s.id",
    # detail: the shared component's key
    "shares_component": "MATCH (s:Scene {id: $id})-[:HAS]->(c:Component)<-[:HAS]-(o:Scene) "
    "WHERE o.id <> $id RETURN o.id, c.key",
    # detail: the shared archetype's name
    "shares_archetype": "MATCH (s:Scene {id: $id})-[:EVOKES]->(a:Archetype)<-[:EVOKES]-(o:Scene) "
    "WHERE o.id <> $id RETURN o.id, a.name",
}
# Fractal relatives from the stored depths: descendants, ancestors, and every scene sharing an
# ancestor (with the depth of the deepest shared one).
DESCENDANTS = (
    f"MATCH (s:Scene {{id: $id}})-[:CONTAINS*1..{MAX_TREE_STEPS}]->(o:Scene) "
    "RETURN DISTINCT o.id, o.depth"
)
ANCESTORS = (
    f"MATCH (o:Scene)-[:CONTAINS*1..{MAX_TREE_STEPS}]->(s:Scene {{id: $id}}) "
    "RETURN DISTINCT o.id, o.depth"
)
RELATIVES = (
    f"MATCH (a:Scene)-[:CONTAINS*1..{MAX_TREE_STEPS}]->(s:Scene {{id: $id}}) "
    f"MATCH (a)-[:CONTAINS*1..{MAX_TREE_STEPS}]->(o:Scene) WHERE o.id <> $id "
    "WITH o, max(a.depth) AS shared RETURN o.id, o.depth, shared"
)


class Tie(NamedTuple):
    """Another scene tied to this one, and what ties them (see ``TIE_QUERIES``)."""

    other: str
    detail: str


class Kin(NamedTuple):
    """A scene of the same tree and its depth (None before the fractal is computed)."""

    id: str
    depth: int | None


class Relative(NamedTuple):
    """A scene sharing an ancestor, its depth and the depth of the deepest shared ancestor."""

    id: str
    depth: int | None
    shared: int | None


class Placement(NamedTuple):
    """Where a stored scene sits: its depth in its tree (None before the fractal is computed)."""

    depth: int | None


def placement(store: Store, scene_id: str) -> Placement | None:
    """The scene's place, or None when the store has no such scene."""
    rows = store.run("MATCH (s:Scene {id: $id}) RETURN s.depth", {"id": scene_id}).rows
    return Placement(rows[0][0]) if rows else None


def ties(store: Store, scene_id: str, kind: TieKind) -> list[Tie]:
    """The other scenes tied to this one in this way, sorted."""
    rows = store.run(TIE_QUERIES[kind], {"id": scene_id}).rows
    return sorted(Tie(other, detail) for other, detail in rows)


def descendants(store: Store, scene_id: str) -> list[Kin]:
    """The scenes inside this one, to ``MAX_TREE_STEPS`` levels down."""
    return [Kin(*row) for row in store.run(DESCENDANTS, {"id": scene_id}).rows]


def ancestors(store: Store, scene_id: str) -> list[Kin]:
    """The scenes holding this one, to ``MAX_TREE_STEPS`` levels up."""
    return [Kin(*row) for row in store.run(ANCESTORS, {"id": scene_id}).rows]


def relatives(store: Store, scene_id: str) -> list[Relative]:
    """The other scenes that share an ancestor with this one."""
    return [Relative(*row) for row in store.run(RELATIVES, {"id": scene_id}).rows]


def named_scenes(store: Store, form: str) -> list[str]:
    """The scenes a stored hyperlexeme of exactly this form names, sorted."""
    return sorted(
        store.run(
            "MATCH (h:Hyperlexeme {form: $form})-[:NAMES]->(s:Scene) RETURN s.id", {"form": form}
        ).column()
    )


def write_resonance(store: Store, scores: Mapping[str, Sequence[tuple[str, float]]]) -> int:
    """Make each scene's RESONATES edges exactly the given (neighbour, score) pairs, in one
    upsert (earlier edges to other scenes go); returns how many edges were written."""
    batch = GraphBatch()
    for scene_id, pairs in scores.items():
        batch.node("Scene", id=scene_id)  # names the source, so its old edges are replaced
        for other, score in pairs:
            batch.rel("RESONATES", scene_id, other, score=score)
        batch.replace["RESONATES"][scene_id] = [other for other, _ in pairs]
    store.upsert(batch)
    return sum(len(pairs) for pairs in scores.values())

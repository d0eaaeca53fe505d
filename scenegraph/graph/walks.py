"""The scene-to-scene edges that graph walks follow, read as typed rows.

Generation pulls these into networkx (``scenegraph.generation.walks``); reading them here keeps
the Cypher in the graph layer and lets the walker work on plain tuples.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

from .base import Store

WalkKind = Literal["CONTAINS", "LEADS_TO", "RESONATES"]
WALK_EDGES: tuple[WalkKind, ...] = ("CONTAINS", "LEADS_TO", "RESONATES")


class Edge(NamedTuple):
    """One relationship between two scenes; only RESONATES edges carry a ``score``."""

    src: str
    dst: str
    kind: WalkKind
    score: float | None


def walk_edges(store: Store) -> Iterator[Edge]:
    """Every CONTAINS, LEADS_TO and RESONATES edge between scenes, one scan per type."""
    for kind in WALK_EDGES:
        score = "r.score" if kind == "RESONATES" else "null"
        rows = store.run(f"MATCH (a:Scene)-[r:{kind}]->(b:Scene) RETURN a.id, b.id, {score}").rows
        for src, dst, value in rows:
            yield Edge(src, dst, kind, value)

"""Graph walks over the scene graph pulled into networkx: prompt context and multi-scene passages.

The store is only read: scene ids and the CONTAINS / LEADS_TO / RESONATES edges come in as a
``MultiDiGraph`` (edge key = relationship type); full scenes are fetched only for the ids a
prompt shows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, overload

import networkx as nx

from ..errors import VectorIndexError
from ..graph.base import Store
from ..graph.walks import WALK_EDGES, walk_edges
from ..models import COMPONENT_KINDS, Scene
from ..neighbours import neighbours

MAX_STEPS_PER_SCENE = 25  # a walk that cannot grow gives up after this many steps per wanted scene

Neighbours = Callable[[str], list[str]]


def scene_graph(store: Store) -> nx.MultiDiGraph:
    """Every scene id, and the edges walks follow (RESONATES edges keep their score)."""
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    graph.add_nodes_from(store.scene_ids())
    for edge in walk_edges(store):
        graph.add_edge(edge.src, edge.dst, key=edge.kind, score=edge.score)
    return graph


def parent_of(graph: nx.MultiDiGraph, scene_id: str) -> str | None:
    return next(
        (src for src, _, kind in graph.in_edges(scene_id, keys=True) if kind == "CONTAINS"), None
    )


def linked(graph: nx.MultiDiGraph, scene_id: str, kind: str) -> list[str]:
    """Targets of ``kind`` edges out of the scene; RESONATES ones best score first."""
    edges = [
        (dst, data.get("score") or 0.0)
        for _, dst, key, data in graph.out_edges(scene_id, keys=True, data=True)
        if key == kind
    ]
    return [dst for dst, _ in sorted(edges, key=lambda e: (-e[1], e[0]))]


def walk_steps(graph: nx.MultiDiGraph, scene_id: str) -> list[str]:
    """Where a walk may go next: along every walk edge, and back along RESONATES (symmetric)."""
    onward = {dst for _, dst, key in graph.out_edges(scene_id, keys=True) if key in WALK_EDGES}
    onward |= {src for src, _, key in graph.in_edges(scene_id, keys=True) if key == "RESONATES"}
    onward.discard(scene_id)
    return sorted(onward)


def random_walk_with_restart(
    graph: nx.MultiDiGraph, start: str, length: int, restart: float, rng: random.Random
) -> list[str]:
    """Up to ``length`` distinct scenes in visiting order; each step jumps back to the start
    with probability ``restart``, so the passage stays around where it began."""
    path, current = [start], start
    for _ in range(length * MAX_STEPS_PER_SCENE):
        if len(path) == length:
            break
        steps = walk_steps(graph, current)
        if not steps or rng.random() < restart:
            current = start
            continue
        current = rng.choice(steps)
        if current not in path:
            path.append(current)
    return path


def passages(
    graph: nx.MultiDiGraph,
    starts: Iterable[str],
    per_start: int,
    length: int,
    restart: float,
    seed: int,
) -> list[tuple[str, ...]]:
    """Distinct passages of at least two scenes; each walk's RNG is seeded by (seed, start, n),
    so a passage does not depend on which other scenes were selected."""
    found: dict[tuple[str, ...], None] = {}
    for start in starts:
        for n in range(per_start):
            rng = random.Random(f"{seed}:{start}:{n}")
            path = tuple(random_walk_with_restart(graph, start, length, restart, rng))
            if len(path) > 1:
                found.setdefault(path)
    return list(found)


def semantic_neighbours(store: Store, k: int) -> Neighbours:
    """Scene id -> ids of its ``k`` nearest scenes by embedding; none without a vector index
    (or without a vector for that scene)."""

    def find(scene_id: str) -> list[str]:
        if k == 0:
            return []
        try:
            return [hit.id for hit in neighbours(store, scene_id, k, by="semantic")]
        except VectorIndexError:
            return []

    return find


@overload
def brief(scene: Scene) -> dict[str, Any]: ...
@overload
def brief(scene: Scene | None) -> dict[str, Any] | None: ...
def brief(scene: Scene | None) -> dict[str, Any] | None:
    """How a prompt mentions a scene that is not the one being expressed: id, title, text."""
    if scene is None:
        return None
    return {"id": scene.id, "title": scene.title, "text": scene.text}


def own_context(scene: Scene) -> dict[str, Any]:
    """What a scene itself says: text, components by kind (every kind, maybe empty),
    archetypes, hyperlexemes."""
    components: dict[str, list[str]] = {kind: [] for kind in COMPONENT_KINDS}
    for component in scene.components:
        components[component.kind].append(component.name)
    return {
        "id": scene.id,
        "title": scene.title,
        "text": scene.text,
        "lang": scene.lang,
        "components": components,
        "archetypes": scene.archetypes,
        "hyperlexemes": scene.hyperlexemes,
    }


def scene_context(
    scene: Scene,
    graph: nx.MultiDiGraph,
    scenes: dict[str, Scene],
    neighbour_ids: list[str],
    resonating: int,
) -> dict[str, Any]:
    """A scene with its place in the graph: parent, sub-scenes, what follows, what resonates,
    and its nearest semantic neighbours. Other scenes appear by title and text only, so editing
    a scene's components changes no other scene's context."""

    def briefs(ids: Iterable[str]) -> list[dict[str, Any]]:
        return [brief(scenes[i]) for i in ids if i in scenes]

    parent = parent_of(graph, scene.id)
    return {
        **own_context(scene),
        "parent": brief(scenes.get(parent)) if parent else None,
        "parts": briefs(linked(graph, scene.id, "CONTAINS")),
        "leads_to": briefs(linked(graph, scene.id, "LEADS_TO")),
        "resonates": briefs(linked(graph, scene.id, "RESONATES")[:resonating]),
        "neighbours": briefs(neighbour_ids),
    }


def context_ids(graph: nx.MultiDiGraph, scene_id: str, resonating: int) -> set[str]:
    """Ids a scene's context mentions (besides semantic neighbours)."""
    parent = parent_of(graph, scene_id)
    return (
        ({parent} if parent else set())
        | set(linked(graph, scene_id, "CONTAINS"))
        | set(linked(graph, scene_id, "LEADS_TO"))
        | set(linked(graph, scene_id, "RESONATES")[:resonating])
    )

"""The explorer's search box and its "similar scenes" expansion.

A query is read once (``scenegraph.neighbours.read_text``: the scenes a stored hyperlexeme of
that form names), then tried, in order, as a scene id, as a stored or parsed hyperlexeme,
against the vector index (the search `scenegraph search` runs, on the same reading), and as
words in scene titles and texts. A vector index that is not built yet adds a notice that says
what to do instead of failing the search.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ..errors import SceneGraphError
from ..graph.base import Store
from ..graph.explorer import has_scene, scenes_with_words
from ..hyperlexeme import Lexicon
from ..neighbours import Hit, Reading, neighbours, read_text, vector_search
from .graph import Graph, make_edge, ref, scene_nodes

NeighbourMode = Literal["semantic", "structural", "both"]
MIN_FUSED_LETTERS = 4
CANDIDATES_SHOWN = 3


class SearchHit(BaseModel):
    id: str
    caption: str = ""
    score: float
    by: list[str]  # id, hyperlexeme, semantic, text
    reasons: list[str] = []


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit]
    notices: list[str] = []


class _Hits:
    """Hits by scene id in the order found; a scene found twice keeps its first place."""

    def __init__(self) -> None:
        self.by_id: dict[str, SearchHit] = {}

    def add(self, scene_id: str, score: float, by: str, reasons: list[str]) -> None:
        hit = self.by_id.get(scene_id)
        if hit is None:
            self.by_id[scene_id] = SearchHit(id=scene_id, score=score, by=[by], reasons=reasons)
        elif by not in hit.by:
            hit.by.append(by)
            hit.reasons += reasons


def search(store: Store, text: str, k: int, lexicon: Lexicon | None = None) -> SearchResult:
    """Scenes matching ``text``; ``lexicon`` (the store's component names) enables parsing."""
    reading = read_text(store, text)
    query = reading.text
    hits, notices = _Hits(), []
    if not query:
        return SearchResult(query=query, hits=[])
    if has_scene(store, query):
        hits.add(query, 1.0, "id", ["the scene's id"])
    if " " not in query:
        _hyperlexeme_hits(reading, k, lexicon, hits)
    notices += _semantic_hits(store, reading, k, lexicon, hits)
    for scene_id in scenes_with_words(store, query, k):
        hits.add(scene_id, 0.5, "text", [f"its title or text contains “{query}”"])
    found = sorted(hits.by_id.values(), key=lambda hit: -hit.score)[:k]
    captions = scene_nodes(store, [h.id for h in found])
    for hit in found:
        hit.caption = captions[hit.id].caption if hit.id in captions else hit.id
    return SearchResult(query=query, hits=found, notices=notices)


def _hyperlexeme_hits(reading: Reading, k: int, lexicon: Lexicon | None, hits: _Hits) -> None:
    word = reading.text
    for scene_id in reading.named:
        hits.add(scene_id, 1.0, "hyperlexeme", [f"hyperlexeme {word}"])
    if reading.named or lexicon is None or len(word) < MIN_FUSED_LETTERS:
        return
    for candidate in lexicon.parse(word, k)[:CANDIDATES_SHOWN]:
        if not candidate.names:
            continue
        reason = "parsed as " + " + ".join(candidate.names)
        for match in candidate.scenes[:k]:
            hits.add(
                match.id, round(match.covered / (1 + candidate.cost), 3), "hyperlexeme", [reason]
            )


def _semantic_hits(
    store: Store, reading: Reading, k: int, lexicon: Lexicon | None, hits: _Hits
) -> list[str]:
    try:
        found = vector_search(store, reading, k, lexicon=lexicon)
    except SceneGraphError as exc:  # no vector index yet, or its model is missing
        return [str(exc)]
    for hit in found:
        hits.add(hit.id, float(hit.score), "semantic", list(hit.reasons))
    return []


def similar(store: Store, scene_id: str, limit: int, mode: NeighbourMode) -> Graph:
    """Scenes like this one by the vector index, drawn as dashed SIMILAR edges."""
    try:
        found = neighbours(store, scene_id, limit, by=mode)
    except SceneGraphError as exc:  # no vector index, or the scene is not in it
        return Graph(notices=[str(exc)])
    center = ref("Scene", scene_id)
    nodes = scene_nodes(store, [h.id for h in found])
    edges = [
        make_edge("SIMILAR", center, nodes[h.id].id, float(h.score), _reasons(h))
        for h in found
        if h.id in nodes
    ]
    return Graph(nodes=list(nodes.values()), edges=edges)


def _reasons(hit: Hit) -> list[str]:
    return [f"by {hit.by}", *hit.reasons]

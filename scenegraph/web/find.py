"""The explorer's search box and its "similar scenes" expansion.

A query is tried, in order, as a scene id, as a stored or parsed hyperlexeme, against the vector
index (``scenegraph.neighbours``), and as words in scene titles and texts. Parts that are not
available (no vector index yet, a build without ``scenegraph.neighbours``) add a notice that
says what to do instead of failing the search.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from ..errors import SceneGraphError
from ..graph.base import Store
from ..hyperlexeme import Lexicon, parse
from ..neighbours import neighbours
from ..neighbours import search as vector_search
from ..text import nfc
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
    query = nfc(text)
    hits, notices = _Hits(), []
    if not query:
        return SearchResult(query=query, hits=[])
    for scene_id in store.run("MATCH (s:Scene {id: $id}) RETURN s.id", {"id": query}).column():
        hits.add(scene_id, 1.0, "id", ["the scene's id"])
    if " " not in query:
        _hyperlexeme_hits(store, query, k, lexicon, hits)
    notices += _semantic_hits(store, query, k, hits)
    _text_hits(store, query, k, hits)
    found = sorted(hits.by_id.values(), key=lambda hit: -hit.score)[:k]
    captions = scene_nodes(store, [h.id for h in found])
    for hit in found:
        hit.caption = captions[hit.id].caption if hit.id in captions else hit.id
    return SearchResult(query=query, hits=found, notices=notices)


def _hyperlexeme_hits(
    store: Store, word: str, k: int, lexicon: Lexicon | None, hits: _Hits
) -> None:
    named = store.run(
        "MATCH (h:Hyperlexeme {form: $form})-[:NAMES]->(s:Scene) RETURN s.id", {"form": word}
    ).column()
    for scene_id in sorted(named):
        hits.add(scene_id, 1.0, "hyperlexeme", [f"hyperlexeme {word}"])
    if named or lexicon is None or len(word) < MIN_FUSED_LETTERS:
        return
    for candidate in parse(word, lexicon, named, k).candidates[:CANDIDATES_SHOWN]:
        if not candidate.names:
            continue
        reason = "parsed as " + " + ".join(candidate.names)
        for match in candidate.scenes[:k]:
            hits.add(
                match.id, round(match.covered / (1 + candidate.cost), 3), "hyperlexeme", [reason]
            )


def _semantic_hits(store: Store, query: str, k: int, hits: _Hits) -> list[str]:
    try:
        found = vector_search(store, query, k)
    except SceneGraphError as exc:  # no vector index yet, or its model is missing
        return [str(exc)]
    for hit in found:
        hits.add(hit.id, float(hit.score), "semantic", list(hit.reasons or []))
    return []


def _text_hits(store: Store, query: str, k: int, hits: _Hits) -> None:
    rows = store.run(
        "MATCH (s:Scene) WHERE toLower(s.title) CONTAINS $q "
        "OR toLower(s.text) CONTAINS $q RETURN s.id ORDER BY s.id LIMIT $k",
        {"q": query.lower(), "k": k},
    ).column()
    for scene_id in rows:
        hits.add(scene_id, 0.5, "text", [f"its title or text contains “{query}”"])


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


def _reasons(hit: Any) -> list[str]:
    by = getattr(hit, "by", None)
    return [*([f"by {by}"] if by else []), *(str(r) for r in (hit.reasons or []))]

"""Neighbouring scenes by meaning (the vector index), by structure (the graph), or both.

- ``semantic``: cosine similarity of the scenes' embedded texts.
- ``structural``: what the graph says (read through ``scenegraph.graph.neighbours``) — shared
  components (1 each) and archetypes (0.5 each), a LEADS_TO edge either way (1), and fractal
  proximity: 1.5 / the number of CONTAINS steps between the two scenes in their tree.
- ``both``: reciprocal-rank fusion of the two rankings (score = sum of 1 / (60 + rank)); every
  hit keeps its rank and reasons from each ranking that found it.

``search`` ranks scenes (or expressions) against free text. A single word that is a stored
hyperlexeme or a scene id searches from the vectors of the scenes it names; an unknown fused
word is read as the component names it fuses (see ``scenegraph.hyperlexeme``). It is one
pipeline in two steps: ``read_text`` looks the text up as a stored hyperlexeme (once), and
``vector_search`` ranks the index against that reading. `scenegraph search` runs both; the
explorer's search box (``scenegraph.web.find``) ranks the same reading by id, hyperlexeme and
words too.

``materialize`` writes hits as ``(scene)-[:RESONATES {score}]->(neighbour)`` edges, replacing
that scene's earlier ones, so Cypher users and the explorer see them. The score is the hit's
score: a cosine, a structural sum, or a fused rank score, by the method that found it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import cache
from typing import Literal, NamedTuple, get_args

import numpy as np
from pydantic import BaseModel, TypeAdapter

from .embedding import Embedder, default_embedder, normalise
from .errors import ConfigError, SceneGraphError, VectorIndexError
from .graph.base import Progress, Store
from .graph.neighbours import (
    TieKind,
    ancestors,
    descendants,
    named_scenes,
    placement,
    relatives,
    ties,
    write_resonance,
)
from .hyperlexeme import Lexicon, store_lexicon
from .text import nfc
from .vectors import Kind, VectorIndex, open_index

By = Literal["semantic", "structural", "both"]
BY: tuple[str, ...] = get_args(By)
RRF_K = 60
FRACTAL_WEIGHT = 1.5
POOL_FACTOR, MIN_POOL = 3, 30  # how deep each ranking is read before fusing


class Hit(BaseModel):
    id: str
    score: float
    reasons: list[str]
    by: By


HITS = TypeAdapter(list[Hit])  # one validation call per ranking: the query path's hot spot

# -- semantic ---------------------------------------------------------------------------------


def semantic_neighbours(store: Store, scene_id: str, k: int = 10) -> list[Hit]:
    """The k scenes whose embedded texts are closest to this scene's."""
    index = open_index(store, "scene")
    if scene_id not in index:
        _require_scene(store, scene_id)
        raise VectorIndexError(f"scene {scene_id} has no vector yet: run `scenegraph embed`")
    found = index.search(index.vector(scene_id), k + 1)[0]
    return HITS.validate_python(
        [
            {"id": other, "score": score, "reasons": [f"cosine {score:.3f}"], "by": "semantic"}
            for other, score in found
            if other != scene_id
        ][:k]
    )


# -- structural -------------------------------------------------------------------------------


class Link(NamedTuple):
    """One way two scenes are tied in the graph: the weight of each tie and how its reason
    reads (filled with the tie's detail)."""

    kind: TieKind
    weight: float
    reason: str


LINKS = (
    Link("leads_to", 1.0, "{} leads to it"),
    Link("comes_from", 1.0, "leads to {}"),
    Link("shares_component", 1.0, "shares {}"),
    Link("shares_archetype", 0.5, "evokes {} too"),
)


class _Tally:
    """Structural score and reasons per other scene."""

    def __init__(self) -> None:
        self.score: dict[str, float] = defaultdict(float)
        self.reasons: dict[str, list[str]] = defaultdict(list)

    def add(self, other: str, weight: float, reason: str) -> None:
        self.score[other] += weight
        self.reasons[other].append(reason)

    def hits(self, k: int) -> list[Hit]:
        ranked = sorted(self.score, key=lambda other: (-round(self.score[other], 6), other))
        return [
            Hit(
                id=other,
                score=round(self.score[other], 6),
                reasons=self.reasons[other],
                by="structural",
            )
            for other in ranked[:k]
        ]


def structural_neighbours(store: Store, scene_id: str, k: int = 10) -> list[Hit]:
    """The k scenes most tied to this one in the graph; ties broken by id (deterministic)."""
    depth = _require_scene(store, scene_id)
    tally = _Tally()
    for other, steps, reason in sorted(_tree_relations(store, scene_id, depth).values()):
        tally.add(other, FRACTAL_WEIGHT / steps, reason)
    for link in LINKS:
        for other, detail in ties(store, scene_id, link.kind):
            tally.add(other, link.weight, link.reason.format(detail))
    return tally.hits(k)


def _tree_relations(store: Store, scene_id: str, depth: int | None) -> dict[str, tuple]:
    """Other scene -> (id, steps apart, reason) for every scene in the same CONTAINS tree."""
    if depth is None:  # depths not computed yet: nothing to measure proximity with
        return {}
    out: dict[str, tuple] = {}

    def keep(other: str, steps: int, reason: str) -> None:
        if steps > 0 and (other not in out or steps < out[other][1]):
            out[other] = (other, steps, reason)

    for other, other_depth, shared in relatives(store, scene_id):
        if other_depth is not None and shared is not None:
            steps = depth + other_depth - 2 * shared
            sibling = other_depth == depth == shared + 1
            keep(
                other,
                steps,
                "sibling (same parent)" if sibling else f"same tree, {steps} steps apart",
            )
    for other, other_depth in descendants(store, scene_id):
        if other_depth is not None:
            steps = other_depth - depth
            keep(other, steps, "part of it" if steps == 1 else f"inside it, {steps} levels down")
    for other, other_depth in ancestors(store, scene_id):
        if other_depth is not None:
            steps = depth - other_depth
            keep(other, steps, "contains it" if steps == 1 else f"contains it, {steps} levels up")
    return out


def _require_scene(store: Store, scene_id: str) -> int | None:
    """The scene's depth; raises when the store has no such scene."""
    placed = placement(store, scene_id)
    if placed is None:
        raise SceneGraphError(
            f"no scene {scene_id!r} in {store.uri}: check the id "
            '(`scenegraph cypher "MATCH (s:Scene) RETURN s.id"`)'
        )
    return placed.depth


# -- both -------------------------------------------------------------------------------------


def fused_neighbours(store: Store, scene_id: str, k: int = 10) -> list[Hit]:
    """Reciprocal-rank fusion of the semantic and structural rankings, with both's reasons."""
    pool = max(k * POOL_FACTOR, MIN_POOL)
    score: dict[str, float] = defaultdict(float)
    reasons: dict[str, list[str]] = defaultdict(list)
    found_by: dict[str, set[str]] = defaultdict(set)
    for method in (semantic_neighbours, structural_neighbours):
        for rank, hit in enumerate(method(store, scene_id, pool), start=1):
            score[hit.id] += 1 / (RRF_K + rank)
            reasons[hit.id] += [f"{hit.by} #{rank}", *hit.reasons]
            found_by[hit.id].add(hit.by)
    ranked = sorted(score, key=lambda other: (-round(score[other], 9), other))[:k]
    return [
        Hit(
            id=other,
            score=round(score[other], 9),
            reasons=reasons[other],
            by="both" if len(found_by[other]) == 2 else next(iter(found_by[other])),
        )
        for other in ranked
    ]


METHODS: dict[str, Callable[[Store, str, int], list[Hit]]] = {
    "semantic": semantic_neighbours,
    "structural": structural_neighbours,
    "both": fused_neighbours,
}


def neighbours(store: Store, scene_id: str, k: int = 10, by: By = "semantic") -> list[Hit]:
    """The k scenes nearest to ``scene_id`` by meaning, structure, or both (see module doc)."""
    if by not in METHODS:
        raise ConfigError(f"unknown neighbour method {by!r}: use one of {', '.join(BY)}")
    if k < 1:
        raise ConfigError(f"k must be at least 1, not {k}")
    return METHODS[by](store, nfc(scene_id), k)


# -- search -----------------------------------------------------------------------------------


class Reading(NamedTuple):
    """A search text (NFC) and the scenes a stored hyperlexeme of exactly that form names: the
    one hyperlexeme lookup a search makes, shared by every ranking that needs it."""

    text: str
    named: list[str]


def read_text(store: Store, text: str) -> Reading:
    """The text, looked up as a stored hyperlexeme when it is a single word."""
    text = nfc(text)
    one_word = bool(text) and not any(ch.isspace() for ch in text)
    return Reading(text, named_scenes(store, text) if one_word else [])


class Query(NamedTuple):
    """How a search text is searched: a text to embed, or vectors taken from the index."""

    text: str
    vector: np.ndarray | None
    reason: str


def _query(store: Store, index: VectorIndex, reading: Reading, lexicon: Lexicon | None) -> Query:
    """For scenes, a scene id or stored hyperlexeme becomes the mean vector of the scenes it
    names, and an unknown fused word the component names it fuses; the rest stays free text."""
    text = reading.text
    plain = Query(text, None, "similar to the query")
    if index.meta.kind != "scene" or any(ch.isspace() for ch in text):
        return plain
    named = [scene for scene in reading.named if scene in index]
    if named or text in index:
        vector = normalise(index.vectors(named or [text]).mean(axis=0, keepdims=True))
        reason = f"hyperlexeme {text} names {', '.join(named)}" if named else f"scene {text}"
        return Query(text, vector, reason)
    candidates = (lexicon or store_lexicon(store)).parse(text, k=1)
    if candidates and all(segment.name for segment in candidates[0].segments):
        names = candidates[0].names
        if len(names) >= 2:
            return Query(" ".join(names), None, f"{text} read as {' + '.join(names)}")
    return plain


@cache
def _embedder_named(model: str, backend: str | None) -> Embedder:
    """One embedder per model and backend for queries, so clients and models are reused."""
    return default_embedder(model, backend)


def query_embedder(index: VectorIndex, embedder: Embedder | None = None) -> Embedder:
    """The embedder for queries against ``index``: the model and backend it was built with."""
    meta = index.meta
    embedder = embedder if embedder is not None else _embedder_named(meta.model, meta.backend)
    if (embedder.name, embedder.backend) != (meta.model, meta.backend):
        backend = f" --backend {embedder.backend}" if embedder.backend else ""
        raise VectorIndexError(
            f"the {meta.kind} index was built with {_on(meta.model, meta.backend)}, not "
            f"{_on(embedder.name, embedder.backend)}: search with that model, or run "
            f"`scenegraph embed --model {embedder.name}{backend}` to rebuild the index"
        )
    return embedder


def _on(model: str, backend: str | None) -> str:
    return f"{model} on {backend}" if backend else model


def search(
    store: Store, text: str, k: int = 10, embedder: Embedder | None = None, kind: Kind = "scene"
) -> list[Hit]:
    """The k scenes (or expressions) closest to ``text``: free text, a hyperlexeme or an id."""
    text = nfc(text)
    if not text:
        raise ConfigError("the search text is empty: give a sentence, a hyperlexeme or an id")
    if k < 1:
        raise ConfigError(f"k must be at least 1, not {k}")
    reading = read_text(store, text) if kind == "scene" else Reading(text, [])
    return vector_search(store, reading, k, embedder, kind)


def vector_search(
    store: Store,
    reading: Reading,
    k: int = 10,
    embedder: Embedder | None = None,
    kind: Kind = "scene",
    lexicon: Lexicon | None = None,
) -> list[Hit]:
    """The k items (k ≥ 1) of the vector index closest to a text already read (``read_text``,
    not empty); ``lexicon``: the store's, when the caller holds one (else it is read when
    needed)."""
    index = open_index(store, kind)
    query = _query(store, index, reading, lexicon)
    vector = (
        query.vector
        if query.vector is not None
        else query_embedder(index, embedder).embed([query.text])
    )
    return [
        Hit(id=item_id, score=score, reasons=[query.reason, f"cosine {score:.3f}"], by="semantic")
        for item_id, score in index.search(vector, k)[0]
    ]


# -- RESONATES edges --------------------------------------------------------------------------


def _scores(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(hit.id, float(hit.score)) for hit in hits]


def materialize(store: Store, scene_id: str, hits: list[Hit]) -> int:
    """Write ``hits`` as the scene's RESONATES edges (its earlier ones go); returns how many."""
    return write_resonance(store, {nfc(scene_id): _scores(hits)})


def materialize_all(
    store: Store, k: int = 5, by: By = "semantic", progress: Progress | None = None
) -> int:
    """RESONATES edges to the k nearest neighbours of every scene, in one write."""
    scene_ids = store.scene_ids() if by == "structural" else list(open_index(store, "scene").ids)
    scores: dict[str, list[tuple[str, float]]] = {}
    for scene_id in scene_ids:
        scores[scene_id] = _scores(neighbours(store, scene_id, k, by))
        if progress:
            progress(1)
    return write_resonance(store, scores)

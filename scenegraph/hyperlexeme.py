"""Hyperlexemes: compose a fused form from a scene's components, and parse an unseen one back.

``compose`` is deterministic: component names lowercased, NFC, with spaces and punctuation
removed, in the order field, act, tone, agent (the order of the source's
``тишинашагвнутрижар``: silence, step, inner heat), alphabetical within a kind.

``parse`` segments a fused word into names from the graph's component lexicon by dynamic
programming, keeping the k cheapest segmentations. A name matches as written (cost 0), with a
simple Russian or English ending changed (``тишины`` for ``тишина``, cost 0.1), or, inside a
multi-word name, as a shortened word joined by a vowel (``внутри`` for ``внутренний``, 0.5).
Letters no name explains cost 1 each. Each segmentation lists the scenes whose components hold
every name it found.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from pydantic import BaseModel

from .graph.base import Store
from .graph.neighbours import named_scenes
from .models import Component
from .text import nfc

ORDER = ("field", "act", "tone", "agent")
ENDINGS = sorted(
    {
        "",
        "а",
        "я",
        "о",
        "е",
        "ё",
        "ы",
        "и",
        "у",
        "ю",
        "ь",
        "й",
        "ой",
        "ей",
        "ою",
        "ею",
        "ью",
        "ом",
        "ем",
        "ём",
        "ам",
        "ям",
        "ах",
        "ях",
        "ов",
        "ев",
        "ая",
        "яя",
        "ое",
        "ее",
        "ые",
        "ие",
        "ый",
        "ий",
        "ую",
        "юю",
        "ого",
        "его",
        "ому",
        "ему",
        "ами",
        "ями",
        "ыми",
        "ими",
        "ым",
        "им",
        "s",
        "es",
        "ed",
        "ing",
    },
    key=len,
)
STRIPPABLE = [e for e in reversed(ENDINGS) if e]
LINKING_VOWELS = ("", "и", "о", "е", "а")
MIN_STEM = 3
MIN_SHORT = 4
COST_INFLECTED, COST_SHORTENED, COST_UNKNOWN, COST_SEGMENT = 0.1, 0.5, 1.0, 0.01


@lru_cache(maxsize=65_536)
def fuse(text: str) -> str:
    """Lowercase NFC letters and digits only: the spelling inside a fused hyperlexeme.

    Cached: component names repeat across a corpus, and every exported row composes its scene's
    hyperlexeme from them (≈ 70 µs a scene uncached)."""
    text = unicodedata.normalize("NFC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


class _Part(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...


class _HasComponents(Protocol):
    @property
    def components(self) -> Sequence[_Part]: ...


def compose(scene: _HasComponents) -> str:
    """The scene's own fused hyperlexeme (only its components count)."""
    rank = {kind: i for i, kind in enumerate(ORDER)}
    parts = sorted(scene.components, key=lambda c: (rank[c.kind], fuse(c.name)))
    return "".join(fuse(c.name) for c in parts)


def stem(word: str) -> str:
    """A light stemmer: drop the longest known ending that leaves at least three letters."""
    for ending in STRIPPABLE:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


class Segment(BaseModel):
    text: str
    name: str | None  # the component name it stands for; None for unexplained letters
    kinds: list[str] = []
    match: str  # exact | inflected | shortened | unknown


class SceneMatch(BaseModel):
    id: str
    covered: float  # share of the scene's components the segmentation names


class Segmentation(BaseModel):
    segments: list[Segment]
    cost: float
    scenes: list[SceneMatch]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.segments if s.name]


class ParseResult(BaseModel):
    word: str
    fused: str
    named_scenes: list[str]  # scenes a stored hyperlexeme of exactly this form names
    candidates: list[Segmentation]


@dataclass(frozen=True)
class _Entry:
    name: str
    words: tuple[str, ...]


class Lexicon:
    """Component names of a graph, ready for segmenting fused words."""

    def __init__(self, components: list[Component], scene_names: dict[str, list[str]]):
        self.kinds: dict[str, set[str]] = defaultdict(set)
        for component in components:
            self.kinds[component.name].add(component.kind)
        self.entries = [
            _Entry(name, tuple(fuse(w) for w in re.split(r"[\s\-_]+", name) if fuse(w)))
            for name in sorted(self.kinds)
        ]
        self.entries = [e for e in self.entries if e.words]
        self.by_first: dict[str, list[_Entry]] = defaultdict(list)
        for entry in self.entries:
            self.by_first[entry.words[0][0]].append(entry)
        self.scene_names = {sid: set(names) for sid, names in scene_names.items()}

    def parse(self, word: str, k: int = 5) -> list[Segmentation]:
        text = fuse(word)
        best: list[list[tuple[float, tuple]]] = [[] for _ in range(len(text) + 1)]
        best[0] = [(0.0, ())]
        for start in range(len(text)):
            if not best[start]:
                continue
            steps: list[tuple[int, float, str | None, str]] = [
                (start + 1, COST_UNKNOWN, None, "unknown")
            ]
            for entry in self.by_first.get(text[start], []):
                steps += [
                    (end, cost, entry.name, how) for end, cost, how in _match(entry, text, start)
                ]
            for end, cost, name, how in steps:
                for total, segments in best[start]:
                    item = (total + cost + COST_SEGMENT, segments + ((start, end, name, how),))
                    best[end].append(item)
                best[end] = heapq.nsmallest(k, best[end], key=lambda item: item[0])
        return [self._segmentation(text, total, segments) for total, segments in best[len(text)]]

    def _segmentation(self, text: str, total: float, raw: tuple) -> Segmentation:
        segments: list[Segment] = []
        for start, end, name, how in raw:
            if name is None and segments and segments[-1].name is None:
                segments[-1].text += text[start:end]
                continue
            segments.append(
                Segment(
                    text=text[start:end],
                    name=name,
                    kinds=sorted(self.kinds.get(name, ())),
                    match=how,
                )
            )
        names = {s.name for s in segments if s.name}
        scenes = [
            SceneMatch(id=sid, covered=round(len(names) / len(have), 3))
            for sid, have in self.scene_names.items()
            if names and names <= have
        ]
        scenes.sort(key=lambda m: (-m.covered, m.id))
        return Segmentation(segments=segments, cost=round(total, 3), scenes=scenes)


def _match(entry: _Entry, text: str, start: int) -> list[tuple[int, float, str]]:
    """Where ``entry`` can end when it starts at ``start``: (end, cost, how)."""
    ends = [(start, 0.0, "exact")]
    for index, word in enumerate(entry.words):
        last = index == len(entry.words) - 1
        ends = [
            (end, cost + extra, _worse(how, kind))
            for pos, cost, how in ends
            for end, extra, kind in _word_ends(word, text, pos, last)
        ]
    best: dict[int, tuple[float, str]] = {}
    for end, cost, how in ends:
        if end not in best or cost < best[end][0]:
            best[end] = (cost, how)
    return [(end, cost, how) for end, (cost, how) in best.items()]


def _word_ends(word: str, text: str, pos: int, last: bool) -> list[tuple[int, float, str]]:
    out = []
    if text.startswith(word, pos):
        out.append((pos + len(word), 0.0, "exact"))
    root = stem(word)
    if text.startswith(root, pos):
        for ending in ENDINGS:
            candidate = root + ending
            if candidate != word and text.startswith(candidate, pos):
                out.append((pos + len(candidate), COST_INFLECTED, "inflected"))
    if not last:
        for length in range(MIN_SHORT, len(root)):
            if not text.startswith(word[:length], pos):
                break
            for vowel in LINKING_VOWELS:
                if text.startswith(vowel, pos + length):
                    out.append((pos + length + len(vowel), COST_SHORTENED, "shortened"))
    return out


def _worse(a: str, b: str) -> str:
    order = ("exact", "inflected", "shortened")
    return max(a, b, key=order.index)


def parse(word: str, lexicon: Lexicon, named: list[str] | None = None, k: int = 5) -> ParseResult:
    return ParseResult(
        word=nfc(word),
        fused=fuse(word),
        named_scenes=sorted(named or []),
        candidates=lexicon.parse(word, k),
    )


def store_lexicon(store: Store) -> Lexicon:
    """The lexicon of a store's component names and the scenes that hold them."""
    return Lexicon(store.component_lexicon(), store.scenes_with_components())


def parse_in_store(store: Store, word: str, k: int = 5) -> ParseResult:
    """Parse ``word`` against the store's component lexicon and stored hyperlexemes."""
    return parse(word, store_lexicon(store), named_scenes(store, nfc(word)), k)

"""The reverse direction's answers: a scene read back as JSON (``export.rows.scene_answer``:
hyperlexeme, components by kind, archetypes; ``{"scenes": [...]}`` for an expression of
several scenes), parsed and compared with the truth name by name.

An answer is valid JSON when a JSON object can be read from it (code fences and a sentence
around it are forgiven, as ``llm.parse`` forgives them); names compare folded (case, ё/е,
Unicode normal form), as sets per kind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..llm.parse import first_json_value
from ..models import COMPONENT_KINDS
from ..quality.words import fold

KINDS: tuple[str, ...] = (*COMPONENT_KINDS, "archetypes")


@dataclass(frozen=True)
class SceneJson:
    hyperlexemes: tuple[str, ...]
    names: dict[str, frozenset[str]]  # kind (or "archetypes") -> folded names

    @property
    def hyperlexeme(self) -> str:
        return " ".join(self.hyperlexemes)


def read_scene_json(text: str) -> SceneJson | None:
    """The scene(s) an answer names; None when no JSON object can be read from it."""
    value = first_json_value(text)
    if not isinstance(value, dict):
        return None
    listed = value.get("scenes")
    scenes = listed if isinstance(listed, list) else [value]
    hyperlexemes: list[str] = []
    names: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for scene in scenes:
        if not isinstance(scene, dict):
            continue
        if isinstance(scene.get("hyperlexeme"), str):
            hyperlexemes.append(fold(scene["hyperlexeme"]).strip())
        components = scene.get("components")
        for kind in COMPONENT_KINDS:
            names[kind] |= _names(components.get(kind) if isinstance(components, dict) else None)
        names["archetypes"] |= _names(scene.get("archetypes"))
    return SceneJson(tuple(hyperlexemes), {k: frozenset(v) for k, v in names.items()})


def _names(value: Any) -> set[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return set()
    return {fold(v).strip() for v in value if isinstance(v, str) and v.strip()}


@dataclass
class Tally:
    """True positives, false positives and false negatives per kind."""

    counts: Counter[tuple[str, str]]

    @classmethod
    def empty(cls) -> Tally:
        return cls(Counter())

    def add(self, answer: SceneJson | None, truth: SceneJson) -> None:
        for kind in KINDS:
            said = answer.names[kind] if answer is not None else frozenset()
            real = truth.names[kind]
            self.counts[(kind, "tp")] += len(said & real)
            self.counts[(kind, "fp")] += len(said - real)
            self.counts[(kind, "fn")] += len(real - said)

    def of(self, kinds: tuple[str, ...] = KINDS) -> tuple[int, int, int]:
        return tuple(  # type: ignore[return-value]
            sum(self.counts[(kind, what)] for kind in kinds) for what in ("tp", "fp", "fn")
        )


def prf(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 (None where there is nothing to divide by)."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if tp + fp + fn == 0:
        return None, None, None
    return precision, recall, 2 * tp / (2 * tp + fp + fn)


def item_f1(answer: SceneJson | None, truth: SceneJson) -> float:
    """F1 of one answer over every kind's names together (1 when both name nothing)."""
    tally = Tally.empty()
    tally.add(answer, truth)
    f1 = prf(*tally.of())[2]
    return 1.0 if f1 is None else f1

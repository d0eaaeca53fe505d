"""Directions: the training pairs an expression gives, as system / prompt / completion.

- ``forward``: the scene (hyperlexeme, components by kind, archetypes, title, text, the scene
  it is part of and its sub-scenes) with an instruction naming the voice → the expression.
- ``reverse``: the expression → its scene's hyperlexeme, components and archetypes as JSON.
- ``transfer``: another expression of the same scene, in another style → this expression.
  Each expression is the answer of at most one transfer pair; its source is drawn with the
  seed among the scene's expressions in other styles, the same form preferred.

Every template is a constant here; the manifest carries their SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from ..graph.export import ExpressionRow, SceneView
from ..models import COMPONENT_KINDS
from ..text import canonical_json
from .options import ExportOptions
from .selection import Chunk

SYSTEM = {
    "forward": "You speak scenes. A scene comes as its hyperlexeme, its components (agent, "
    "field, act, tone), its archetypes and its place among other scenes. Express it "
    "in the voice asked for: live the scene, do not explain it, do not list its "
    "parts; keep its tension, tone and rhythm.",
    "reverse": "You read an expression back into the scene it expresses. Answer with one JSON "
    "object: the scene's hyperlexeme, its components by kind (agent, field, act, "
    "tone) and its archetypes.",
    "transfer": "You carry an expression of a scene into another voice: keep what it says and "
    "its tension; change only the style, register and tone asked for.",
}
# The instruction; the input (the scene, or the expression to read or carry over) follows it
# after a blank line in chat formats and goes to `input` in Alpaca.
INSTRUCTION = {
    "forward": "Express this scene{voice}.",
    "reverse": "Which scene does this {form} express?",
    "transfer": 'Say this again{voice}. It is said now in the style "{source_style}".',
}
FORM_WORDS = {
    "text": "text",
    "symbolic": "line of symbols",
    "formula": "formula",
    "colour": "colour",
    "gesture": "gesture",
    "sound": "sound pattern",
}
SCENE_LINES = {
    "hyperlexeme": "Hyperlexeme",
    "agent": "Agent",
    "field": "Field",
    "act": "Act",
    "tone": "Tone",
    "archetypes": "Archetypes",
    "title": "Title",
    "text": "Description",
    "parent": "Part of",
    "children": "Contains",
}


def template_hashes() -> dict[str, str]:
    """SHA-256 of every template this module renders with."""
    templates = {
        "system": SYSTEM,
        "instruction": INSTRUCTION,
        "form_words": FORM_WORDS,
        "scene_lines": SCENE_LINES,
    }
    return {
        name: hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
        for name, value in templates.items()
    }


@dataclass(slots=True)
class Pair:
    """One training example. ``expression`` is what the pair is about (the answer of forward
    and transfer pairs, the question of reverse ones); ``source`` the other side of a transfer."""

    direction: str
    expression: ExpressionRow
    source: ExpressionRow | None
    instruction: str
    input: str
    completion: str

    @property
    def system(self) -> str:
        return SYSTEM[self.direction]

    @property
    def prompt(self) -> str:
        return f"{self.instruction}\n\n{self.input}"

    @property
    def id(self) -> str:
        tail = f"-{self.source.id}" if self.source is not None else ""
        return f"{self.direction}-{self.expression.id}{tail}"

    def messages(self) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.prompt},
            {"role": "assistant", "content": self.completion},
        ]


class Renderer:
    """Builds the pairs of each chunk; caches what repeats (voices for the whole export,
    scene texts within a chunk)."""

    def __init__(self, options: ExportOptions):
        self.options = options
        self.filters = [
            (name, set(allowed))
            for name, allowed in (
                ("style", options.styles),
                ("register", options.registers),
                ("tone", options.tones),
                ("form", options.forms),
            )
            if allowed
        ]
        self.voices: dict[tuple, str] = {}

    def wanted(self, expr: ExpressionRow) -> bool:
        """Whether the expression passes the style / register / tone / form filters."""
        return all(getattr(expr, name) in allowed for name, allowed in self.filters)

    def pairs(self, chunk: Chunk) -> Iterator[tuple[ExpressionRow, list[Pair]]]:
        """Each wanted expression of the chunk, in chunk order, with its pairs (directions in
        the order asked; an expression without a source in another style has no transfer)."""
        directions = self.options.directions
        sources = (
            _transfer_sources(chunk.expressions, self.options.seed)
            if "transfer" in directions
            else {}
        )
        blocks: dict[str, str] = {}
        answers: dict[str, dict] = {}
        for expr in chunk.expressions:
            if self.filters and not self.wanted(expr):
                continue
            pairs = []
            for direction in directions:
                if direction == "forward":
                    pairs.append(
                        Pair(
                            "forward",
                            expr,
                            None,
                            self._instruction("forward", expr),
                            _scenes_text(expr, chunk, blocks),
                            expr.text,
                        )
                    )
                elif direction == "reverse":
                    form = FORM_WORDS.get(expr.form, expr.form)
                    pairs.append(
                        Pair(
                            "reverse",
                            expr,
                            None,
                            INSTRUCTION["reverse"].format(form=form),
                            expr.text,
                            _scene_json(expr, chunk, answers),
                        )
                    )
                elif expr.id in sources:
                    source = sources[expr.id]
                    pairs.append(
                        Pair(
                            "transfer",
                            expr,
                            source,
                            self._instruction("transfer", expr, source),
                            source.text,
                            expr.text,
                        )
                    )
            if pairs:
                yield expr, pairs

    def _instruction(
        self, direction: str, expr: ExpressionRow, source: ExpressionRow | None = None
    ) -> str:
        key = (
            direction,
            expr.style,
            expr.register,
            expr.tone,
            expr.form,
            expr.target,
            source.style if source is not None else None,
        )
        instruction = self.voices.get(key)
        if instruction is None:
            instruction = self.voices[key] = INSTRUCTION[direction].format(
                voice=voice(expr), source_style=source.style if source is not None else None
            )
        return instruction


def voice(expr: ExpressionRow) -> str:
    """' in the style "поэт", register "poetry", as a colour, for "человек"' (what is set)."""
    parts = []
    if expr.style:
        parts.append(f'in the style "{expr.style}"')
    if expr.register:
        parts.append(f'register "{expr.register}"')
    if expr.tone:
        parts.append(f'tone "{expr.tone}"')
    parts.append(f"as {_article(FORM_WORDS.get(expr.form, expr.form))}")
    if expr.target:
        parts.append(f'for "{expr.target}"')
    return " " + ", ".join(parts)


def _article(word: str) -> str:
    return word if word == "text" else f"a {word}"


def _scenes_text(expr: ExpressionRow, chunk: Chunk, blocks: dict[str, str]) -> str:
    if len(expr.scene_ids) == 1 and expr.scene_ids[0] in blocks:
        return blocks[expr.scene_ids[0]]
    for sid in expr.scene_ids:
        if sid not in blocks:
            blocks[sid] = scene_block(chunk.scenes[sid])
    return "\n\n".join(blocks[sid] for sid in expr.scene_ids)


def scene_block(view: SceneView) -> str:
    """The scene as the lines a forward prompt shows (empty ones left out)."""
    values = {"hyperlexeme": view.hyperlexeme()}
    for kind in COMPONENT_KINDS:
        values[kind] = ", ".join(view.component_names(kind))
    values["archetypes"] = ", ".join(view.archetypes)
    values["title"] = view.title or ""
    values["text"] = view.text or ""
    values["parent"] = _named(*view.parent) if view.parent else ""
    values["children"] = "; ".join(_named(*child) for child in view.children)
    return "\n".join(f"{SCENE_LINES[key]}: {value}" for key, value in values.items() if value)


def _named(scene_id: str, title: str | None) -> str:
    return title or scene_id


def _scene_json(expr: ExpressionRow, chunk: Chunk, answers: dict[str, dict]) -> str:
    for sid in expr.scene_ids:
        if sid not in answers:
            answers[sid] = scene_answer(chunk.scenes[sid])
    scenes = [answers[sid] for sid in expr.scene_ids]
    return orjson.dumps(scenes[0] if len(scenes) == 1 else {"scenes": scenes}).decode("utf-8")


def scene_answer(view: SceneView) -> dict:
    """What a reverse pair answers: hyperlexeme, components by kind, archetypes."""
    return {
        "hyperlexeme": view.hyperlexeme(),
        "components": {kind: view.component_names(kind) for kind in COMPONENT_KINDS},
        "archetypes": list(view.archetypes),
    }


def _transfer_sources(expressions: list[ExpressionRow], seed: int) -> dict[str, ExpressionRow]:
    """Target expression id -> its source: same scenes, another style, same form preferred."""
    by_scenes: dict[tuple[str, ...], list[ExpressionRow]] = {}
    for expr in expressions:
        if expr.style:
            by_scenes.setdefault(tuple(expr.scene_ids), []).append(expr)
    out = {}
    for group in by_scenes.values():
        for target in group:
            candidates = [s for s in group if s.style != target.style]
            if candidates:
                out[target.id] = min(
                    candidates,
                    key=lambda s: (
                        s.form != target.form,
                        hashlib.sha256(f"{seed}\x00{target.id}\x00{s.id}".encode()).digest(),
                    ),
                )
    return out

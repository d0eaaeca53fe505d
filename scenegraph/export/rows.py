"""Directions: the training pairs an expression gives, as system / prompt / completion.

- ``forward``: the scene (hyperlexeme, components by kind, archetypes, title, text, the scene
  it is part of and its sub-scenes) with an instruction naming the voice → the expression.
- ``reverse``: the expression → its scene's hyperlexeme, components and archetypes as JSON,
  only for the forms that can carry that answer (``REVERSE_FORMS``, said in ``REVERSE_RULE``).
- ``transfer``: another expression of the same scene, in another style → this expression.
  Each expression is the answer of at most one transfer pair; its source is drawn with the
  seed among the scene's expressions in other styles, the same form preferred.

Every row names a scene by one hyperlexeme, ``canonical_hyperlexeme``. Every template is a
constant here; the manifest carries their SHA-256.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from ..graph.export import ExpressionRow, SceneView
from ..hyperlexeme import compose
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
# The forms a reverse pair may ask the scene of. A text names the scene's parts in words and a
# formula in named variables and relations, so the scene's components, archetypes and (composed)
# hyperlexeme can be read back from them. A line of symbols, a hex colour, a gesture or a sound
# pattern carries a mood and a motion at most: asking it for agent, field and archetypes, which
# it does not determine, trains guessing. A reduced target (only tone or act) was weighed and
# left out: component names are the corpus's open vocabulary, so from `🕳️🔊😨` a model would
# still guess the words. These forms make forward and transfer pairs as before.
REVERSE_FORMS: frozenset[str] = frozenset({"text", "formula"})
REVERSE_RULE = (
    "Reverse pairs (expression → scene JSON) are made only for text and formula expressions, "
    "which put the scene's parts into words or named variables; symbolic, colour, gesture and "
    "sound expressions make none, since they do not determine the scene's components, "
    "archetypes or hyperlexeme. The hyperlexeme of every row is composed from the scene's "
    "components (field, act, tone, agent), or the scene's own when it has no components."
)

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
        "reverse_forms": sorted(REVERSE_FORMS),
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
    id: str = field(init=False)  # made once: the shuffle key and every format's metadata read it

    def __post_init__(self) -> None:
        tail = f"-{self.source.id}" if self.source is not None else ""
        self.id = f"{self.direction}-{self.expression.id}{tail}"

    @property
    def system(self) -> str:
        return SYSTEM[self.direction]

    @property
    def prompt(self) -> str:
        return f"{self.instruction}\n\n{self.input}"

    def messages(self) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.prompt},
            {"role": "assistant", "content": self.completion},
        ]


class Renderer:
    """Builds the pairs of each chunk; caches what repeats (voices for the whole export,
    scene texts within a chunk).

    ``reverse_made`` and ``reverse_skipped`` count, by form, the wanted expressions that got a
    reverse pair and those ``REVERSE_FORMS`` left without one (when reverse is asked for;
    before any ``max_per_cell`` cap, which the pipeline applies afterwards).
    """

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
        self.reverse_made: Counter[str] = Counter()
        self.reverse_skipped: Counter[str] = Counter()

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
                    if expr.form not in REVERSE_FORMS:
                        self.reverse_skipped[expr.form] += 1
                        continue
                    self.reverse_made[expr.form] += 1
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
    values = {"hyperlexeme": canonical_hyperlexeme(view)}
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


def canonical_hyperlexeme(view: SceneView) -> str:
    """The one hyperlexeme a scene goes by in every row (forward prompts and reverse answers):
    the one composed from its components (``hyperlexeme.compose``), else (a scene without
    components) the scene's own: a stored fused one, else an id-like one, else its id.

    Composed first because it is a function of the components alone: identical components
    always give the same word, it spells out exactly the components the answer lists, and a
    model can learn to build it. The corpus's own hyperlexemes are coined by their authors
    (another word order, parts left out: `womanwarmingtenderness` beside the composed
    `coldroomwarmingtendernesswoman`), so they cannot be derived from the scene; where one
    equals the composed word nothing changes. They stay in the graph and the records format.
    """
    return compose(view) or view.hyperlexeme()


def _scene_json(expr: ExpressionRow, chunk: Chunk, answers: dict[str, dict]) -> str:
    for sid in expr.scene_ids:
        if sid not in answers:
            answers[sid] = scene_answer(chunk.scenes[sid])
    scenes = [answers[sid] for sid in expr.scene_ids]
    return orjson.dumps(scenes[0] if len(scenes) == 1 else {"scenes": scenes}).decode("utf-8")


def scene_answer(view: SceneView) -> dict:
    """What a reverse pair answers: hyperlexeme, components by kind, archetypes."""
    return {
        "hyperlexeme": canonical_hyperlexeme(view),
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

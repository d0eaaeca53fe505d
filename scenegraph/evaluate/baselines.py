"""The two rows that calibrate the scale, answered offline through the template provider's
interface (``Ask.offline``), so they run, are journaled and are scored exactly like a model:

* ``reference``: each item answered with the text the export expects (the held-out
  expression, or the scene's JSON): the upper bound;
* ``template``: the generation layer's offline template provider. Forward and transfer items
  get ``offline.j2`` filled from the scene's components in the asked voice, as ``scenegraph
  generate --provider template`` would write them; a reverse item (the template provider
  cannot read) gets the train split's most common scene as JSON: a prior, not a reading.
"""

from __future__ import annotations

from collections import Counter

import orjson

from ..generation.config import Voice
from ..generation.plan import Slot, Subject
from ..generation.prompts import Prompts
from ..generation.walks import own_context
from ..llm.template import TemplateProvider
from ..models import COMPONENT_KINDS, Scene
from .items import Item
from .truth import read_scene_json


class ReferenceProvider(TemplateProvider):
    """Answers each item with its held-out expected text."""

    name = "reference"
    model = "reference"


def reference_texts(items: list[Item]) -> dict[str, str]:
    return {item.id: item.expected for item in items}


def template_texts(
    items: list[Item], scenes: dict[str, Scene], train: list[Item]
) -> dict[str, str]:
    prompts = Prompts()
    prior = _most_common_scene(train)
    return {
        item.id: prior if item.direction == "reverse" else _filled(prompts, item, scenes)
        for item in items
    }


def _filled(prompts: Prompts, item: Item, scenes: dict[str, Scene]) -> str:
    known = [scenes[sid] for sid in item.scene_ids if sid in scenes]
    subject = Subject(
        tuple(item.scene_ids),
        {"scenes": [own_context(scene) for scene in known]},
        item.lang,
    )
    slot = Slot(
        _voice(item.style),
        _voice(item.register),
        _voice(item.tone),
        Voice(name=item.form, instruction=""),
        item.target,
    )
    return prompts.offline(subject, slot)


def _voice(name: str | None) -> Voice | None:
    return Voice(name=name, instruction="") if name else None


def _most_common_scene(train: list[Item]) -> str:
    """The scene JSON naming the most frequent name of each kind, and archetype, among the
    train split's reverse answers."""
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in (*COMPONENT_KINDS, "archetypes")}
    hyperlexemes: Counter[str] = Counter()
    for item in train:
        if item.direction != "reverse":
            continue
        scene = read_scene_json(item.expected)
        if scene is None:
            continue
        hyperlexemes[scene.hyperlexeme] += 1
        for kind, names in scene.names.items():
            counts[kind].update(names)
    top = {kind: [c.most_common(1)[0][0]] if c else [] for kind, c in counts.items()}
    answer = {
        "hyperlexeme": hyperlexemes.most_common(1)[0][0] if hyperlexemes else "",
        "components": {kind: top[kind] for kind in COMPONENT_KINDS},
        "archetypes": top["archetypes"],
    }
    return orjson.dumps(answer).decode("utf-8")

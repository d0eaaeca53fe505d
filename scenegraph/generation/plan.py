"""The generation plan: which scenes (or walked passages) × which voices, and each item's key.

An *item* is one expression to produce: a subject (a scene, or a passage of scenes) in one
slot (style, register, tone, form, target). Two hashes identify it:

* ``slot_id`` — what it is: the subject's scenes, the slot's names, provider and model. A slot
  holds at most one active expression per model; a newer one supersedes the older.
* ``key`` — the slot plus every input of the prompt: template hash, parameters, the slot's
  instructions, the scene's content hash and its context hash. A key stored in the journal is
  done; a slot stored under another key is *stale* and regenerated.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, SceneGraphError
from ..graph.base import Store
from ..graph.generation import expressible_scenes
from ..graph.query import user_query
from ..models import FORMS, Scene
from ..text import content_hash
from .config import GenerationConfig, Voice
from .options import GenerateOptions
from .walks import (
    context_ids,
    own_context,
    passages,
    scene_context,
    scene_graph,
    semantic_neighbours,
)

if TYPE_CHECKING:
    from .focus import Focus

RESONATING_IN_CONTEXT = 3


@dataclass(frozen=True)
class Slot:
    style: Voice | None
    register: Voice | None
    tone: Voice | None
    form: Voice
    target: str | None
    # Another expression in the same voice (``generate --focus``); named only when set, so
    # the slots of plain runs keep their ids.
    variant: str | None = None

    def names(self) -> dict[str, str | None]:
        names = {
            "style": _name(self.style),
            "register": _name(self.register),
            "tone": _name(self.tone),
            "form": self.form.name,
            "target": self.target,
        }
        return names | {"variant": self.variant} if self.variant else names

    @functools.cached_property
    def key(self) -> str:
        """The slot's label in a prompt's KEYS line, e.g. ``поэт/poetry/text``."""
        return "/".join(name for name in self.names().values() if name)

    def instructions(self) -> list[str | None]:
        return [
            v.instruction if v else None for v in (self.style, self.register, self.tone, self.form)
        ]


@dataclass(frozen=True)
class Subject:
    """What an expression expresses: one scene, or a passage of scenes in walking order."""

    scene_ids: tuple[str, ...]
    context: dict[str, Any] = field(hash=False, compare=False)  # what the prompt shows
    lang: str | None = None
    content_hash: str = ""
    context_hash: str = ""

    @property
    def is_passage(self) -> bool:
        return len(self.scene_ids) > 1


@dataclass(frozen=True)
class Recipe:
    """How expressions are made: provider, model, prompt templates' hash and parameters."""

    provider: str
    model: str
    template_hash: str
    params: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Item:
    subject: Subject
    slot: Slot
    slot_id: str
    key: str


@dataclass
class Plan:
    recipe: Recipe
    items: list[Item]


def build_plan(
    store: Store,
    options: GenerateOptions,
    slots: list[Slot],
    recipe: Recipe,
    focus: Focus | None = None,
) -> Plan:
    """Every subject the options select × every slot, with keys (nothing is sent or written).
    A ``focus`` orders and cuts the scenes, and keeps its budget of items."""
    scene_ids = select_scenes(store, options)
    if focus is not None:
        per_scene = len(slots) * (options.walks_per_scene if options.walk else 1)
        scene_ids = focus.scene_ids(store, scene_ids, per_scene)
    graph = scene_graph(store)
    if options.walk:
        subjects = passage_subjects(store, graph, scene_ids, options)
    else:
        subjects = scene_subjects(store, graph, scene_ids, options)
    items = [make_item(subject, slot, recipe) for subject in subjects for slot in slots]
    return Plan(recipe, focus.trim(items, scene_ids) if focus is not None else items)


def make_item(subject: Subject, slot: Slot, recipe: Recipe) -> Item:
    slot_id = content_hash([subject.scene_ids, slot.names(), recipe.provider, recipe.model])
    key = content_hash(
        [
            slot_id,
            recipe.template_hash,
            recipe.params,
            slot.instructions(),
            subject.content_hash,
            subject.context_hash,
        ]
    )
    return Item(subject, slot, slot_id, key)


def plan_slots(config: GenerationConfig, options: GenerateOptions) -> list[Slot]:
    """Every combination of the chosen styles, registers, tones, forms and targets."""
    forms = config.pick("forms", options.forms) or config.pick("forms", ["text"])
    bad = [form.name for form in forms if form.name not in FORMS]
    if bad:
        raise ConfigError(f"forms {bad} are not expression forms: use {', '.join(FORMS)}")
    dims: list[list[Voice | None]] = [
        list(config.pick(dim, getattr(options, dim))) or [None]
        for dim in ("styles", "registers", "tones")
    ]
    styles, registers, tones = dims
    targets: list[str | None] = list(options.targets) or [None]
    return [
        Slot(style, register, tone, form, target)
        for style, register, tone, form, target in itertools.product(
            styles, registers, tones, forms, targets
        )
    ]


def select_scenes(store: Store, options: GenerateOptions) -> list[str]:
    """Ids of the scenes to express, sorted: from ``select`` or all, by archetype, capped."""
    ids = set(_query_ids(store, options.select) if options.select else store.scene_ids())
    if options.archetypes:
        ids &= store.scenes_evoking(options.archetypes)
    ids &= expressible_scenes(store)
    chosen = sorted(ids)[: options.limit]
    if not chosen:
        raise ConfigError(
            "no scenes selected: check --select / --archetype, or load a corpus "
            "first (`scenegraph load seeds/corpus`)"
        )
    return chosen


def _query_ids(store: Store, cypher: str) -> list[str]:
    try:
        values = user_query(store, cypher).column()
    except SceneGraphError as exc:
        raise ConfigError(f"--select query failed: {exc}") from exc
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(
            "--select must return scene ids (strings) in its first column, "
            "e.g. MATCH (s:Scene) WHERE s.lang = 'en' RETURN s.id"
        )
    return values


def scene_subjects(
    store: Store, graph, scene_ids: list[str], options: GenerateOptions
) -> list[Subject]:
    """One subject per scene, its context pulled from the graph and the vector index."""
    nearest = semantic_neighbours(store, options.neighbours)
    neighbour_ids = {sid: nearest(sid) for sid in scene_ids}
    wanted = set(scene_ids).union(
        *neighbour_ids.values(),
        *(context_ids(graph, sid, RESONATING_IN_CONTEXT) for sid in scene_ids),
    )
    scenes = {scene.id: scene for scene in store.scenes(wanted)}
    subjects = []
    for sid in scene_ids:
        scene = scenes[sid]
        context = {
            "passage": False,
            "scenes": [
                scene_context(scene, graph, scenes, neighbour_ids[sid], RESONATING_IN_CONTEXT)
            ],
        }
        subjects.append(
            Subject((sid,), context, scene.lang, scene.content_hash(), content_hash(context))
        )
    return subjects


def passage_subjects(
    store: Store, graph, scene_ids: list[str], options: GenerateOptions
) -> list[Subject]:
    """One subject per distinct passage walked from the selected scenes."""
    paths = passages(
        graph,
        scene_ids,
        options.walks_per_scene,
        options.walk_length,
        options.restart,
        options.seed or 0,
    )
    scenes = {scene.id: scene for scene in store.scenes(set().union(*paths))}
    return [
        passage_subject([scenes[sid] for sid in path])
        for path in paths
        if all(sid in scenes for sid in path)
    ]


def passage_subject(scenes: list[Scene]) -> Subject:
    context = {"passage": True, "scenes": [own_context(scene) for scene in scenes]}
    langs = Counter(scene.lang for scene in scenes if scene.lang)
    return Subject(
        tuple(scene.id for scene in scenes),
        context,
        langs.most_common(1)[0][0] if langs else None,
        content_hash([scene.content_hash() for scene in scenes]),
        content_hash(context),
    )


def _name(voice: Voice | None) -> str | None:
    return voice.name if voice else None

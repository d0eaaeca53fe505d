"""The domain: scenes, their components, archetypes, hyperlexemes and expressions.

A scene is a node of the fractal: it may contain sub-scenes to any depth (``parts``) and lead
to other scenes (``leads_to``). Expressions are the many forms one scene takes (text, symbols,
a formula, a colour, a gesture, a sound) in a style, register and tone.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .text import content_hash, nfc

COMPONENT_KINDS: tuple[str, ...] = ("agent", "field", "act", "tone")
FORMS: tuple[str, ...] = ("text", "symbolic", "formula", "colour", "gesture", "sound")

ComponentKind = Literal["agent", "field", "act", "tone"]
Form = Literal["text", "symbolic", "formula", "colour", "gesture", "sound"]

_DIGIT = re.compile(r"\d")


class Component(BaseModel):
    """One part of a scene: who acts (agent), where (field), what happens (act), how (tone)."""

    model_config = ConfigDict(frozen=True)

    kind: ComponentKind
    name: str

    @field_validator("name")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return nfc(value)

    @cached_property  # read for every edge a load writes; the instance is frozen
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


class Archetype(BaseModel):
    """A pattern a scene evokes (transition, threshold, initiation…)."""

    model_config = ConfigDict(frozen=True)

    name: str


class Hyperlexeme(BaseModel):
    """A compressed token naming a scene: a fused word (`жартишинавход`) or an id (`Δ42`)."""

    form: str
    scene_ids: list[str] = Field(default_factory=list)

    @property
    def kind(self) -> str:
        return hyperlexeme_kind(self.form)


def hyperlexeme_kind(form: str) -> str:
    """'id' for id-like hyperlexemes (they carry digits, like `Δ42`), 'fused' for fused words."""
    return "id" if _DIGIT.search(form) else "fused"


# `register` is the source's word for a voice (logic, poetry, rhythm…); pydantic only warns
# that it shadows ABCMeta.register, which no model here uses.
warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)


class Expression(BaseModel):
    """One way of saying a scene, with where it came from and what the checks said of it."""

    scene_ids: list[str]
    text: str
    form: Form = "text"
    style: str | None = None
    register: str | None = None
    tone: str | None = None
    target: str | None = None
    lang: str | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)
    props: dict[str, Any] = Field(default_factory=dict)
    quality: dict[str, Any] | None = None
    passed: bool | None = None
    status: Literal["active", "superseded"] = "active"
    id: str = ""

    def model_post_init(self, __context: Any) -> None:
        if not self.id:
            self.id = expression_id(self)


def expression_id(expr: Expression) -> str:
    """Deterministic id from what the expression says and for which scene(s) and voice."""
    return expression_key(
        expr.scene_ids,
        expr.text,
        expr.form,
        expr.style,
        expr.register,
        expr.tone,
        expr.target,
        expr.lang,
    )


def expression_key(
    scene_ids: list[str],
    text: str,
    form: str,
    style: str | None,
    register: str | None,
    tone: str | None,
    target: str | None,
    lang: str | None,
) -> str:
    """``expression_id`` from plain values, for rows built without an ``Expression``."""
    return "x" + content_hash([scene_ids, text, form, style, register, tone, target, lang])


class Scene(BaseModel):
    """A scene ``ΔX`` with its components, archetypes, sub-scenes and onward links."""

    id: str
    title: str | None = None
    text: str | None = None
    lang: str | None = None
    components: list[Component] = Field(default_factory=list)
    archetypes: list[str] = Field(default_factory=list)
    hyperlexemes: list[str] = Field(default_factory=list)
    parts: list[str] = Field(default_factory=list)
    leads_to: list[str] = Field(default_factory=list)
    props: dict[str, Any] = Field(default_factory=dict)
    depth: int | None = None
    root: str | None = None

    def component_names(self, kind: str | None = None) -> list[str]:
        return [c.name for c in self.components if kind is None or c.kind == kind]

    def content_hash(self) -> str:
        """Hash of what the scene *is*, not of where it sits: decides re-embedding and
        regeneration."""
        keys = [c.key for c in self.components]
        return scene_hash(self.title, self.text, self.lang, keys, self.archetypes, self.props)


def scene_hash(
    title: str | None,
    text: str | None,
    lang: str | None,
    component_keys: Iterable[str],
    archetypes: Iterable[str],
    props: dict[str, Any],
) -> str:
    """``Scene.content_hash`` from plain values, for rows built without a ``Scene``."""
    return content_hash([title, text, lang, sorted(component_keys), sorted(archetypes), props])


def ancestors(scene_id: str, parents: Mapping[str, str]) -> Iterator[str]:
    """The scene's parent, then its parent's parent… up to the root (child → parent links).

    The loader refuses cycles, but links written around it (a ``cypher --write``) may hold one:
    the walk remembers where it has been and ends there instead of circling.
    """
    seen, node = {scene_id}, parents.get(scene_id)
    while node is not None and node not in seen:
        yield node
        seen.add(node)
        node = parents.get(node)


def fractal_place(scene_id: str, parents: Mapping[str, str]) -> tuple[int, str]:
    """(depth, root) of a scene given child → parent links: a root has depth 0."""
    chain = list(ancestors(scene_id, parents))
    return len(chain), chain[-1] if chain else scene_id

"""Raw records to one consistent corpus: scenes merged across records, sub-scene links
checked, every problem collected.

A record is taken whole or not at all. ``parse`` turns it into a ``Parsed`` — the scene
definitions, expressions and referenced ids it gives, or its problems — then
``CorpusBuilder.add`` merges the definitions into the corpus, and takes every change back if
any of them has a problem.

Validating a record (``records``) is the only check its values get: scenes are kept as plain
drafts with the fields and hashes of ``models.Scene``, expressions as ``ExpressionRow`` with
their ids, and both become store rows directly (``GraphBatch.add_scene``). Building the
domain models as well would validate every value a second time; pydantic's unvalidated
``model_construct`` is slower still (it inspects each default factory on every call).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, cast

import msgspec
from pydantic import BaseModel

from ..graph.batch import ExpressionRow, GraphBatch
from ..models import (
    COMPONENT_KINDS,
    Component,
    ComponentKind,
    Form,
    ancestors,
    expression_key,
    fractal_place,
)
from ..text import guess_lang, nfc
from .read import RawRecord, Where, problem
from .records import (
    ComponentsIn,
    ExpressionIn,
    HyperlexemeRecord,
    PairRecord,
    SceneRecord,
    shape_of,
    validated,
)
from .vocabulary import vocabulary

R = TypeVar("R", bound=BaseModel)


class SceneDraft(msgspec.Struct):  # msgspec structs here: built in C, two or more a record
    """A scene as the records state it, merged by id: ``models.Scene``'s fields."""

    id: str
    title: str | None = None
    text: str | None = None
    lang: str | None = None
    components: list[Component] = []  # each draft gets its own empty list (and dict)
    archetypes: list[str] = []
    hyperlexemes: list[str] = []
    parts: list[str] = []
    leads_to: list[str] = []
    props: dict[str, Any] = {}
    depth: int | None = None  # its place in the fractal, known once every record is in
    root: str | None = None


@dataclass
class Reject:
    """A record left out under ``--skip-bad``, with every reason."""

    where: Where | None  # None when a whole file was refused
    problems: list[str]
    record: Any


class Definition(msgspec.Struct):
    """A scene as one record defines it; ``fields`` are the scene fields it states (the
    others it leaves open for other records to fill)."""

    scene: SceneDraft
    fields: set[str]
    path: tuple  # where in the record, for problems


_SCALARS = ("title", "text", "lang")
_SETS = ("components", "archetypes")
_UNIONS = ("hyperlexemes", "parts", "leads_to")


class Parsed(msgspec.Struct):
    """What one record gives: the accumulator its parsers add to, problems included."""

    where: Where
    definitions: list[Definition] = []
    expressions: list[ExpressionRow] = []
    references: set[str] = set()
    problems: list[str] = []
    unknown_labels: list[str] = []  # "style:foo", once per expression

    def refuse(self, path: tuple, message: str) -> None:
        self.problems.append(problem(self.where, path, message))

    def validate(self, shape: type[R], data: Any, path: tuple = ()) -> R | None:
        """The record in its shape, or None with each of its problems noted."""
        result = validated(shape, data)
        if isinstance(result, list):
            for loc, message in result:
                self.refuse((*path, *loc), message)
            return None
        return result

    def define(self, path: tuple, scene: SceneDraft, stated: set[str]) -> None:
        """Add a scene as the record states it. ``stated`` names the components and
        archetypes the record states (even as none); title, text and lang count when given.
        A scene without a language takes the one its words are in."""
        fields = stated | {name for name in _SCALARS if getattr(scene, name) is not None}
        if scene.lang is None:
            scene.lang = guess_lang(scene.title, scene.text, *[c.name for c in scene.components])
        self.definitions.append(Definition(scene, fields, path))

    def express(
        self, scene: SceneDraft, text: str, form: Form, voice: ExpressionIn | PairRecord
    ) -> None:
        """Add an expression of the scene in the record's voice; it says where it came from
        unless the record did. Its style, register and tone take their canonical names
        (``canonical``) before its id is computed."""
        given: dict[str, str] = {}
        style = self.canonical("style", voice.style, given)
        register = self.canonical("register", voice.register, given)
        tone = self.canonical("tone", voice.tone, given)
        provenance = (
            voice.provenance
            if voice.provenance is not None
            else {
                "source": "corpus",
                "file": _file_name(self.where.file),
                "line": self.where.line,
            }
        )
        if given:
            provenance = {**provenance, **given}
        lang = voice.lang or guess_lang(text) or scene.lang
        scene_ids = [scene.id]
        self.expressions.append(
            ExpressionRow(
                id=expression_key(scene_ids, text, form, style, register, tone, voice.target, lang),
                scene_ids=scene_ids,
                text=text,
                form=form,
                style=style,
                register=register,
                tone=tone,
                target=voice.target,
                lang=lang,
                provenance=provenance,
                props=voice.extras(),
                quality=voice.quality,
                passed=voice.passed,
            )
        )

    def canonical(self, name: str, label: str | None, given: dict[str, str]) -> str | None:
        """A style, register or tone label by its canonical name: an alias is mapped (and the
        spelling as given noted in ``given`` as ``{"style_as_given": "poet"}``), a label the
        vocabulary does not know is kept and noted in ``unknown_labels``."""
        if label is None:
            return None
        canonical = vocabulary().resolve(name, label)
        if canonical is None:
            self.unknown_labels.append(f"{name}:{label}")
            return label
        if canonical != label:
            given[f"{name}_as_given"] = label
        return canonical


@lru_cache(maxsize=4096)
def _component(kind: str, name: str) -> Component:
    """One instance for each component (they repeat across a corpus and are immutable),
    not validated again: the record gave its name already checked and normalised."""
    return Component.model_construct(kind=cast(ComponentKind, kind), name=name)


def _components(given: ComponentsIn) -> list[Component]:
    """The components in kind order, each name once per kind."""
    components = []
    for kind in COMPONENT_KINDS:
        names = getattr(given, kind)
        if len(names) == 1:  # the usual case: nothing to de-duplicate
            components.append(_component(kind, names[0]))
        elif names:
            components += [_component(kind, name) for name in dict.fromkeys(names)]
    return components


@lru_cache(maxsize=256)
def _file_name(path: str) -> str:
    return Path(path).name


# -- one record -------------------------------------------------------------------------


def parse(raw: RawRecord) -> Parsed:
    """The scenes and expressions one raw record gives, or its problems."""
    parsed = Parsed(raw.where)
    data = raw.data
    if raw.error:
        parsed.problems.append(raw.error)
    elif not isinstance(data, dict):
        parsed.refuse((), f"a record must be an object, got {type(data).__name__}")
    elif (shape := shape_of(data)) is None:
        parsed.refuse(
            (), "no 'scene', 'hyperlexeme' or 'id' field: not a record of any known shape"
        )
    elif (record := parsed.validate(shape, data)) is not None:
        if isinstance(record, PairRecord):
            _from_pair(record, parsed)
        elif isinstance(record, HyperlexemeRecord):
            _from_hyperlexeme(record, parsed)
        else:
            _from_scene(record, parsed, ())
    return parsed


def _from_pair(record: PairRecord, parsed: Parsed) -> None:
    scene = SceneDraft(
        id=record.scene,
        title=record.title,
        lang=record.lang,
        components=_components(record.components),
        archetypes=record.components.meta,
    )
    # A pair record's components carry its archetypes (meta): stating one states both.
    parsed.define((), scene, set(_SETS) if "components" in record.model_fields_set else set())
    if record.text_human:
        parsed.express(scene, record.text_human, "text", record)
    if record.text_alt:
        parsed.express(scene, record.text_alt, "symbolic", record)


def _from_hyperlexeme(record: HyperlexemeRecord, parsed: Parsed) -> None:
    scene = SceneDraft(
        id=record.scene or record.hyperlexeme,
        components=_components(record.components) if record.components is not None else [],
        archetypes=record.archetypes,
        hyperlexemes=[record.hyperlexeme],
        props=record.extras(),
    )
    stated = set()
    if record.components is not None:
        stated.add("components")
    if record.archetypes:
        stated.add("archetypes")
    parsed.define((), scene, stated)
    for expr in record.expressions:
        parsed.express(scene, expr.text, expr.form, expr)


def _from_scene(record: SceneRecord, parsed: Parsed, path: tuple) -> None:
    part_ids = []
    for index, part in enumerate(record.parts):
        part_path = (*path, "parts", index)
        if isinstance(part, str) and (part_id := nfc(part)):
            part_ids.append(part_id)
            parsed.references.add(part_id)
        elif isinstance(part, dict):
            if (sub := parsed.validate(SceneRecord, part, part_path)) is not None:
                part_ids.append(sub.id)
                _from_scene(sub, parsed, part_path)
        else:
            parsed.refuse(part_path, "a part is a scene record or a scene id")
    scene = SceneDraft(
        id=record.id,
        title=record.title,
        text=record.text,
        lang=record.lang,
        components=_components(record.components),
        archetypes=list(dict.fromkeys(record.archetypes + record.meta)),
        hyperlexemes=record.hyperlexemes,
        parts=part_ids,
        leads_to=record.leads_to,
        props=record.extras(),
    )
    given = record.model_fields_set
    stated = {"components"} & given
    if given & {"archetypes", "meta"}:
        stated.add("archetypes")
    parsed.define(path, scene, stated)
    parsed.references.update(record.leads_to)
    for expr in record.expressions:
        parsed.express(scene, expr.text, expr.form, expr)


# -- the corpus ---------------------------------------------------------------------------


@dataclass
class Corpus:
    scenes: dict[str, SceneDraft] = field(default_factory=dict)
    expressions: dict[str, ExpressionRow] = field(default_factory=dict)
    references: set[str] = field(default_factory=set)
    parents: dict[str, str] = field(default_factory=dict)  # child → parent, stored ones included

    def batch(self) -> GraphBatch:
        """Rows for the store; every scene carries its depth and root in the fractal."""
        for scene in self.scenes.values():
            scene.depth, scene.root = fractal_place(scene.id, self.parents)
        batch = GraphBatch.of(self.scenes.values(), self.expressions.values())
        for scene_id in sorted(self.references - self.scenes.keys()):
            depth, root = fractal_place(scene_id, self.parents)
            batch.node("Scene", id=scene_id, depth=depth, root=root)
        return batch


class CorpusBuilder:
    """Turns raw records into one consistent corpus; a record with a problem changes nothing.

    ``parents`` holds the sub-scene links the store already has, so a load cannot give a scene
    a second parent or close a cycle with what is stored.
    """

    def __init__(self, parents: dict[str, str] | None = None):
        self.corpus = Corpus(parents=dict(parents or {}))
        self.stated: dict[str, dict[str, Where]] = {}  # scene id -> field -> where it was stated
        self.records = 0
        # "style:foo" -> expressions of taken records whose label the vocabulary does not know
        self.unknown_labels: Counter[str] = Counter()

    def add(self, raw: RawRecord) -> list[str]:
        """Add one record; returns its problems (empty when it was taken)."""
        self.records += 1
        parsed = parse(raw)
        if parsed.problems:
            return parsed.problems
        changes = _Changes()
        problems = [p for d in parsed.definitions for p in self._merge(d, parsed.where, changes)]
        if problems:
            changes.undo()
            return problems
        for expr in parsed.expressions:
            self.corpus.expressions.setdefault(expr.id, expr)
        self.corpus.references |= parsed.references
        if parsed.unknown_labels:
            self.unknown_labels.update(parsed.unknown_labels)
        return []

    def _merge(self, new: Definition, where: Where, changes: _Changes) -> list[str]:
        """Merge one definition, noting each change in ``changes``; returns its problems."""
        scenes, parents, sid = self.corpus.scenes, self.corpus.parents, new.scene.id
        current, stated = scenes.get(sid), self.stated.get(sid, {})
        if current is not None and (conflict := _conflict(current, new, stated)):
            return [problem(where, (*new.path, "id"), conflict)]
        changes.set(scenes, sid, _merged(current, new))
        changes.set(self.stated, sid, {**dict.fromkeys(new.fields, where), **stated})
        problems = []
        for part in new.scene.parts:
            if message := _link_problem(sid, part, parents):
                problems.append(problem(where, (*new.path, "parts"), message))
            else:  # a refused link is never recorded: later walks must not meet it
                changes.set(parents, part, sid)
        return problems


_MISSING = object()


class _Changes:
    """Writes to the builder's maps that can be taken back, so a record with a problem leaves
    the corpus as it was (cheaper than overlay maps: most records have no problem)."""

    def __init__(self) -> None:
        self._undo: list[tuple[MutableMapping[str, Any], str, Any]] = []

    def set(self, mapping: MutableMapping[str, Any], key: str, value: Any) -> None:
        self._undo.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def undo(self) -> None:
        for mapping, key, old in reversed(self._undo):
            if old is _MISSING:
                del mapping[key]
            else:
                mapping[key] = old


def _conflict(current: SceneDraft, new: Definition, stated: dict[str, Where]) -> str | None:
    scene = new.scene
    for name in (*_SCALARS, *_SETS):
        if name not in new.fields or name not in stated:
            continue
        old_value, new_value = getattr(current, name), getattr(scene, name)
        if name in _SETS:
            old_value, new_value = (
                sorted(map(_identity, old_value)),
                sorted(map(_identity, new_value)),
            )
        if old_value != new_value:
            return f"scene {scene.id!r} is already defined at {stated[name].at()} with other {name}"
    for key, value in scene.props.items():
        if key in current.props and current.props[key] != value:
            return f"scene {scene.id!r} is already defined with another {key!r}"
    return None


def _identity(value: Component | str) -> str:
    return value.key if isinstance(value, Component) else value


def _merged(current: SceneDraft | None, new: Definition) -> SceneDraft:
    """A new draft combining both; neither input is changed (a refused record must leave the
    corpus as it was)."""
    if current is None:
        return new.scene
    merged = msgspec.structs.replace(current)
    for name in (*_SCALARS, *_SETS):
        if name in new.fields:
            setattr(merged, name, getattr(new.scene, name))
    for name in _UNIONS:
        setattr(
            merged, name, list(dict.fromkeys(getattr(current, name) + getattr(new.scene, name)))
        )
    merged.props = {**current.props, **new.scene.props}
    return merged


def _link_problem(parent: str, child: str, parents: Mapping[str, str]) -> str | None:
    if child == parent:
        return f"scene {parent!r} cannot be a part of itself"
    if parents.get(child, parent) != parent:
        return f"scene {child!r} is already a part of {parents[child]!r}; a scene has one parent"
    if child in ancestors(parent, parents):
        return f"cyclic parts: {child!r} contains {parent!r}, which would contain it again"
    return None

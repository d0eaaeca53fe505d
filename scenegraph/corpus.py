"""Reading corpus files: the source document's three record shapes in JSONL, JSON and YAML.

Shapes, detected per record by their key field:

- ``scene``       — the 6.5.1 pair record: scene id, components with ``meta`` (archetypes),
                    ``text_human`` (a text expression) and ``text_alt`` (a symbolic one), style…
- ``hyperlexeme`` — the 6.5.2 record: a hyperlexeme, optionally its scene and components, and
                    its expressions (without ``scene`` the hyperlexeme is the scene's id).
- ``id``          — the 6.5.3 scene record: components, archetypes (or ``meta``), text, nested
                    ``parts`` (sub-scenes, or ids of scenes defined elsewhere), ``leads_to``.

Every problem is reported as ``file:line: field: what is wrong``. Fields the shapes do not name
are kept as properties (``props``) of the scene (or, in pair records, of the expressions).
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from .errors import CorpusError
from .models import COMPONENT_KINDS, Component, Expression, Form, Scene, ancestors, fractal_place
from .text import guess_lang, nfc

MAX_NAME = 500
MAX_TEXT = 100_000
MAX_NESTING = 200  # objects and lists inside one record: room for 99 levels of nested parts
MAX_VALUES = 1_000_000  # values in one record, counted as YAML aliases expand
TOO_DEEP = (
    f"nested deeper than {MAX_NESTING} levels of objects and lists "
    f"(at most {(MAX_NESTING - 1) // 2} levels of parts)"
)
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
LIST_KEYS = ("scenes", "records", "hyperlexemes")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _filled(value: str) -> str:
    value = nfc(value)
    if not value:
        raise ValueError("must not be empty")
    return value


Name = Annotated[str, StringConstraints(max_length=MAX_NAME), AfterValidator(_filled)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_filled)]
Names = Annotated[list[Name], BeforeValidator(_as_list)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class _GraphFields(BaseModel):
    """What the graph adds to an expression; an exported corpus carries it back in."""

    provenance: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    passed: bool | None = None

    def graph_fields(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("provenance", "quality", "passed")
            if getattr(self, k) is not None
        }


class ExpressionIn(_Record, _GraphFields):
    text: Text
    form: Form = "text"
    style: Name | None = None
    register: Name | None = None
    tone: Name | None = None
    target: Name | None = None
    lang: Name | None = None


class ComponentsIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    agent: Names = Field(default_factory=list)
    field: Names = Field(default_factory=list)
    act: Names = Field(default_factory=list)
    tone: Names = Field(default_factory=list)
    meta: Names = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _known_kinds(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in (*COMPONENT_KINDS, "meta")]
            if unknown:
                raise ValueError(
                    f"unknown component kind {unknown[0]!r} "
                    f"(expected {', '.join(COMPONENT_KINDS)} or meta)"
                )
        return data

    def components(self) -> list[Component]:
        # Plain construction: pydantic's validating __init__ is faster than model_construct.
        return [
            Component(kind=kind, name=name)
            for kind in COMPONENT_KINDS
            for name in dict.fromkeys(getattr(self, kind))
        ]


class PairRecord(_Record, _GraphFields):
    """The 6.5.1 record (``provenance``, ``quality``, ``passed`` apply to both its texts)."""

    scene: Name
    components: ComponentsIn = Field(default_factory=ComponentsIn)
    text_human: Text | None = None
    text_alt: Text | None = None
    style: Name | None = None
    register: Name | None = None
    tone: Name | None = None
    target: Name | None = None
    lang: Name | None = None
    title: Text | None = None


class HyperlexemeRecord(_Record):
    """The 6.5.2 record."""

    hyperlexeme: Name
    scene: Name | None = None
    components: ComponentsIn | None = None
    archetypes: Names = Field(default_factory=list)
    expressions: list[ExpressionIn] = Field(default_factory=list)


class SceneRecord(_Record):
    """The 6.5.3 record; ``parts`` are checked one by one (a nested record or an id)."""

    id: Name
    title: Text | None = None
    text: Text | None = None
    lang: Name | None = None
    components: ComponentsIn = Field(default_factory=ComponentsIn)
    archetypes: Names = Field(default_factory=list)
    meta: Names = Field(default_factory=list)
    hyperlexemes: Names = Field(default_factory=list)
    leads_to: Names = Field(default_factory=list)
    parts: list[Any] = Field(default_factory=list)
    expressions: list[ExpressionIn] = Field(default_factory=list)


@dataclass(frozen=True)
class Where:
    """A place in a corpus file; ``lines`` maps field paths to lines where the format knows them."""

    file: str
    line: int
    lines: dict[tuple, int] = field(default_factory=dict, compare=False, hash=False)

    def at(self, path: tuple = ()) -> str:
        line = self.line
        for depth in range(len(path), 0, -1):
            if path[:depth] in self.lines:
                line = self.lines[path[:depth]]
                break
        return f"{self.file}:{line}"


@dataclass
class RawRecord:
    data: Any
    where: Where
    error: str | None = None  # a line that could not be parsed at all


def problem(where: Where, path: tuple, message: str) -> str:
    field_name = _path_text(path) or "record"
    return f"{where.at(path)}: {field_name}: {message}"


def _path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- reading files ----------------------------------------------------------------------


def read_records(path: Path) -> Iterator[RawRecord]:
    """The raw records of one file, each with where it starts. Raises CorpusError for the file."""
    name = str(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise CorpusError(
            [
                f"{name}:1: file: unknown extension {path.suffix!r} "
                f"(use {', '.join(sorted(SUFFIXES))})"
            ]
        )
    text = _read_text(path)
    if not text.strip():
        raise CorpusError([f"{name}:1: file: empty file, no records"])
    reader = {"jsonl": _jsonl_records, "json": _json_records, "yaml": _yaml_records}[kind]
    yield from reader(name, text)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError([f"{path}:1: file: cannot read ({exc.strerror})"]) from exc
    if b"\x00" in data:
        offset = data.index(b"\x00")
        line = data.count(b"\n", 0, offset) + 1
        raise CorpusError(
            [f"{path}:{line}: file: binary data (NUL byte at offset {offset}), expected UTF-8 text"]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CorpusError(
            [
                f"{path}:{line}: file: not UTF-8 text (byte 0x{data[exc.start]:02x} "
                f"at offset {exc.start})"
            ]
        ) from exc


def _jsonl_records(name: str, text: str) -> Iterator[RawRecord]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = Where(name, number)
        try:
            yield _checked(json.loads(line), where)
        except json.JSONDecodeError as exc:
            yield RawRecord(
                line, where, f"{where.at()}: record: invalid JSON: {exc.msg} (column {exc.colno})"
            )
        except RecursionError:
            yield RawRecord(None, where, f"{where.at()}: record: {TOO_DEEP}")


def _json_records(name: str, text: str) -> Iterator[RawRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            [f"{name}:{exc.lineno}: file: invalid JSON: {exc.msg} (column {exc.colno})"]
        ) from exc
    except RecursionError:
        raise CorpusError([f"{name}:{_deep_json_line(text)}: file: {TOO_DEEP}"]) from None
    starts = _json_element_lines(text)
    if isinstance(data, list):
        items, lines = data, starts.get((), [])
    elif isinstance(data, dict) and any(isinstance(data.get(k), list) for k in LIST_KEYS):
        items, lines = [], []
        for key in LIST_KEYS:
            if isinstance(data.get(key), list):
                items += data[key]
                lines += starts.get((key,), [])
    else:
        items, lines = [data], [1]
    for index, item in enumerate(items):
        yield _checked(item, Where(name, lines[index] if index < len(lines) else 1))


def _checked(data: Any, where: Where, node: yaml.Node | None = None) -> RawRecord:
    """A parsed record, refused here if it is too deep or too large to validate safely
    (validation and the sub-scene walk recurse once per level; YAML aliases multiply)."""
    if found := _shape_problem(data):
        path, message = found
        return RawRecord(None, where, problem(where, path, message))
    if node is not None:
        where = Where(where.file, where.line, _yaml_lines(node))
    return RawRecord(data, where)


def _shape_problem(data: Any) -> tuple[tuple, str] | None:
    """(top-level field, message) when the record nests deeper than MAX_NESTING or holds more
    than MAX_VALUES values; a walk with its own stack, so it cannot overflow itself."""
    stack: list[tuple[Any, int, tuple]] = [(data, 1, ())] if isinstance(data, (dict, list)) else []
    values = 0
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_NESTING:
            return path, TOO_DEEP
        items = value.items() if isinstance(value, dict) else enumerate(value)
        values += len(value)
        if values > MAX_VALUES:
            return path, f"more than {MAX_VALUES:,} values in one record"
        stack.extend(
            (child, depth + 1, path or (key,))
            for key, child in items
            if isinstance(child, (dict, list))
        )
    return None


_JSON_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{}\n]')


def _deep_json_line(text: str) -> int:
    """The line where JSON text first nests deeper than MAX_NESTING (strings skipped)."""
    depth, line = 0, 1
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return line
        elif char in "]}":
            depth -= 1
    return 1


def _json_element_lines(text: str) -> dict[tuple, list[int]]:
    """Start lines of the elements of the top-level array, or of arrays under top-level keys.

    A small scanner over already-valid JSON: it tracks strings, nesting and, for the arrays
    that hold records, where each element begins.
    """
    out: dict[tuple, list[int]] = {}
    stack: list[tuple[str, tuple | None]] = []  # (bracket, path of a record array or None)
    line, in_string, escaped, expect, last_key, string_start = 1, False, False, False, None, 0
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if len(stack) == 1 and stack[0][0] == "{":
                    last_key = text[string_start + 1 : index]
            continue
        if char == "\n":
            line += 1
            continue
        if char in " \t\r":
            continue
        tracked = stack[-1][1] if stack and stack[-1][0] == "[" else None
        if expect and tracked is not None and char not in ",]":
            out.setdefault(tracked, []).append(line)
        expect = False
        if char == '"':
            in_string, string_start = True, index
        elif char in "[{":
            path: tuple | None
            if char == "[" and not stack:
                path = ()
            elif char == "[" and len(stack) == 1 and stack[0][0] == "{":
                path = (last_key,)
            else:
                path = None
            stack.append((char, path))
            expect = path is not None
        elif char in "]}":
            stack.pop()
        elif char == "," and stack and stack[-1][1] is not None:
            expect = True
    return out


def _yaml_records(name: str, text: str) -> Iterator[RawRecord]:
    try:
        loader = yaml.SafeLoader(text)  # the reader already refuses control characters
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise CorpusError(
            [f"{name}:{_yaml_error_line(exc, text)}: file: invalid YAML: {_yaml_error_reason(exc)}"]
        ) from exc
    except RecursionError:
        raise CorpusError([f"{name}:{_deep_yaml_line(text)}: file: {TOO_DEEP}"]) from None
    if node is None:
        raise CorpusError([f"{name}:1: file: empty file, no records"])
    if isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        pairs = list(zip(data, node.value))
    elif (
        isinstance(node, yaml.MappingNode)
        and isinstance(data, dict)
        and any(isinstance(data.get(k), list) for k in LIST_KEYS)
    ):
        values = {k.value: v for k, v in node.value}
        pairs = [
            pair
            for key in LIST_KEYS
            if isinstance(data.get(key), list)
            for pair in zip(data[key], values[key].value)
        ]
    else:
        pairs = [(data, node)]
    for item, item_node in pairs:
        yield _checked(item, Where(name, item_node.start_mark.line + 1), item_node)


def _deep_yaml_line(text: str) -> int:
    """The line where YAML text first nests deeper than MAX_NESTING (the event parser keeps
    its own stack, unlike the composer)."""
    depth, line = 0, 1
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if event.start_mark is not None:
                line = event.start_mark.line + 1
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass  # the nesting was found before the text goes wrong, or never: the last line read
    return line


def _yaml_error_line(exc: yaml.YAMLError, text: str) -> int:
    mark: yaml.error.Mark | None = getattr(exc, "problem_mark", None)
    if mark is not None:
        return mark.line + 1
    if isinstance(exc, yaml.reader.ReaderError):
        return text.count("\n", 0, exc.position) + 1
    return 1


def _yaml_error_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"{exc.reason} (character #x{code:04x})"
    return getattr(exc, "problem", None) or str(exc).splitlines()[0]


def _yaml_lines(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines.update(_yaml_lines(value, (*path, key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            lines.update(_yaml_lines(value, (*path, index)))
    return lines


# -- from records to scenes and expressions ---------------------------------------------


@dataclass
class Reject:
    """A record left out under ``--skip-bad``, with every reason."""

    where: Where | None  # None when a whole file was refused
    problems: list[str]
    record: Any


@dataclass
class _Definition:
    scene: Scene
    fields: set[str]  # the scene fields this record states (others it leaves open)
    where: Where
    path: tuple


@dataclass
class Corpus:
    scenes: dict[str, Scene] = field(default_factory=dict)
    expressions: dict[str, Expression] = field(default_factory=dict)
    references: set[str] = field(default_factory=set)
    parents: dict[str, str] = field(default_factory=dict)  # child → parent, stored ones included

    def batch(self):
        """Rows for the store; every scene carries its depth and root in the fractal."""
        from .graph.batch import GraphBatch

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
        self.parents = self.corpus.parents
        self.stated: dict[str, dict[str, Where]] = {}  # scene id -> field -> where it was stated
        self.records = 0

    def add(self, raw: RawRecord) -> list[str]:
        """Add one record; returns its problems (empty when it was taken)."""
        self.records += 1
        if raw.error:
            return [raw.error]
        problems: list[str] = []
        definitions: list[_Definition] = []
        expressions: list[Expression] = []
        references: set[str] = set()
        _parse_record(raw, definitions, expressions, references, problems)
        if problems:
            return problems
        # Changes go to overlays first and reach the corpus only if the whole record is good.
        scenes = ChainMap({}, self.corpus.scenes)
        stated: ChainMap = ChainMap({}, self.stated)
        parents = ChainMap({}, self.parents)
        for d in definitions:
            sid = d.scene.id
            if sid in scenes and (conflict := _conflict(scenes[sid], d, stated.get(sid, {}))):
                problems.append(problem(d.where, (*d.path, "id"), conflict))
                continue
            scenes[sid] = _merged(scenes.get(sid), d)
            stated[sid] = {**dict.fromkeys(d.fields, d.where), **stated.get(sid, {})}
            for part in d.scene.parts:
                if message := _link_problem(sid, part, parents):
                    problems.append(problem(d.where, (*d.path, "parts"), message))
                else:  # a refused link is never recorded: later walks must not meet it
                    parents[part] = sid
        if not problems:
            self.corpus.scenes.update(scenes.maps[0])
            self.stated.update(stated.maps[0])
            self.parents.update(parents.maps[0])
            for expr in expressions:
                self.corpus.expressions.setdefault(expr.id, expr)
            self.corpus.references |= references
        return problems


_SCALARS = ("title", "text", "lang")
_SETS = ("components", "archetypes")
_UNIONS = ("hyperlexemes", "parts", "leads_to")


def _conflict(current: Scene, new: _Definition, stated: dict[str, Where]) -> str | None:
    for name in (*_SCALARS, *_SETS):
        if name not in new.fields or name not in stated:
            continue
        old_value, new_value = getattr(current, name), getattr(new.scene, name)
        if name in _SETS:
            old_value, new_value = (
                sorted(map(_identity, old_value)),
                sorted(map(_identity, new_value)),
            )
        if old_value != new_value:
            return (
                f"scene {new.scene.id!r} is already defined at {stated[name].at()} "
                f"with other {name}"
            )
    for key, value in new.scene.props.items():
        if key in current.props and current.props[key] != value:
            return f"scene {new.scene.id!r} is already defined with another {key!r}"
    return None


def _identity(value: Component | str) -> str:
    return value.key if isinstance(value, Component) else value


def _merged(current: Scene | None, new: _Definition) -> Scene:
    """A new Scene combining both; neither input is changed (a refused record must leave the
    corpus as it was)."""
    if current is None:
        return new.scene
    merged = current.model_copy()
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


def _parse_record(raw: RawRecord, definitions, expressions, references, problems) -> None:
    data, where = raw.data, raw.where
    if not isinstance(data, dict):
        problems.append(
            problem(where, (), f"a record must be an object, got {type(data).__name__}")
        )
        return
    shape: type[_Record]
    parse: Callable[..., None]
    if "hyperlexeme" in data:
        shape, parse = HyperlexemeRecord, _from_hyperlexeme
    elif "scene" in data:
        shape, parse = PairRecord, _from_pair
    elif "id" in data:
        shape, parse = SceneRecord, _from_scene
    else:
        problems.append(
            problem(
                where,
                (),
                "no 'scene', 'hyperlexeme' or 'id' field: not a record of any known shape",
            )
        )
        return
    record = _validate(shape, data, where, (), problems)
    if record is not None:
        parse(record, where, (), definitions, expressions, references, problems)


def _validate(shape, data, where: Where, path: tuple, problems: list[str]):
    try:
        return shape.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(part for part in error["loc"] if part not in ("function-after",))
            problems.append(problem(where, (*path, *loc), _message(error)))
        return None


def _message(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str) and len(value) > 40:
        return f"{message} (got {len(value)} characters)"
    return message


def _scene(
    record_id: str, components: ComponentsIn | None, **values: Any
) -> tuple[Scene, set[str]]:
    fields = {k for k, v in values.items() if v not in (None, [], {})}
    if components is not None:
        values["components"] = components.components()
        fields.add("components")
    scene = Scene(id=record_id, **{k: v for k, v in values.items() if v is not None})
    if scene.lang is None:
        scene.lang = guess_lang(
            " ".join(filter(None, [scene.title, scene.text, *scene.component_names()]))
        )
    return scene, fields


@lru_cache(maxsize=256)
def _file_name(path: str) -> str:
    return Path(path).name


def _expression(scene: Scene, source: Where, text: str, **values: Any) -> Expression:
    values = {k: v for k, v in values.items() if v is not None}
    values.setdefault("lang", guess_lang(text) or scene.lang)
    values.setdefault(
        "provenance", {"source": "corpus", "file": _file_name(source.file), "line": source.line}
    )
    return Expression(scene_ids=[scene.id], text=text, **values)


def _from_pair(record: PairRecord, where, path, definitions, expressions, references, problems):
    stated = record.model_fields_set
    scene, fields = _scene(
        record.scene,
        record.components if "components" in stated else None,
        title=record.title,
        lang=record.lang,
        archetypes=record.components.meta if "components" in stated else None,
    )
    if "components" in stated:
        fields.add("archetypes")
    definitions.append(_Definition(scene, fields, where, path))
    voice = dict(
        style=record.style,
        register=record.register,
        tone=record.tone,
        target=record.target,
        lang=record.lang,
        props=record.extras(),
        **record.graph_fields(),
    )
    if record.text_human:
        expressions.append(_expression(scene, where, record.text_human, form="text", **voice))
    if record.text_alt:
        expressions.append(_expression(scene, where, record.text_alt, form="symbolic", **voice))


def _from_hyperlexeme(
    record: HyperlexemeRecord, where, path, definitions, expressions, references, problems
):
    scene, fields = _scene(
        record.scene or record.hyperlexeme,
        record.components,
        archetypes=record.archetypes or None,
        hyperlexemes=[record.hyperlexeme],
        props=record.extras() or None,
    )
    definitions.append(_Definition(scene, fields, where, path))
    for expr in record.expressions:
        expressions.append(_expression(scene, where, expr.text, **_voice(expr)))


def _voice(expr: ExpressionIn) -> dict[str, Any]:
    return dict(
        form=expr.form,
        style=expr.style,
        register=expr.register,
        tone=expr.tone,
        target=expr.target,
        lang=expr.lang,
        props=expr.extras(),
        **expr.graph_fields(),
    )


def _from_scene(record: SceneRecord, where, path, definitions, expressions, references, problems):
    part_ids = []
    for index, part in enumerate(record.parts):
        part_path = (*path, "parts", index)
        if isinstance(part, str) and nfc(part):
            part_ids.append(nfc(part))
            references.add(nfc(part))
        elif isinstance(part, dict):
            sub = _validate(SceneRecord, part, where, part_path, problems)
            if sub is not None:
                part_ids.append(sub.id)
                _from_scene(sub, where, part_path, definitions, expressions, references, problems)
        else:
            problems.append(problem(where, part_path, "a part is a scene record or a scene id"))
    stated = record.model_fields_set
    scene, fields = _scene(
        record.id,
        record.components if "components" in stated else None,
        title=record.title,
        text=record.text,
        lang=record.lang,
        archetypes=list(dict.fromkeys(record.archetypes + record.meta)) or None,
        hyperlexemes=record.hyperlexemes or None,
        leads_to=record.leads_to or None,
        parts=part_ids or None,
        props=record.extras() or None,
    )
    if stated & {"archetypes", "meta"}:
        fields.add("archetypes")
    references.update(record.leads_to)
    definitions.append(_Definition(scene, fields, where, path))
    for expr in record.expressions:
        expressions.append(_expression(scene, where, expr.text, **_voice(expr)))

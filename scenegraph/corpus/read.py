"""Corpus files to raw records: JSONL, JSON and YAML, each record with its file and line.

Nothing here knows the record shapes; it only parses, refuses what cannot be parsed or is too
deep or too large to validate safely, and remembers where every record (and, in YAML, every
field) starts so that each problem can name its line.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml

from ..errors import CorpusError

MAX_NESTING = 200  # objects and lists inside one record: room for 99 levels of nested parts
MAX_VALUES = 1_000_000  # values in one record, counted as YAML aliases expand
TOO_DEEP = (
    f"nested deeper than {MAX_NESTING} levels of objects and lists "
    f"(at most {(MAX_NESTING - 1) // 2} levels of parts)"
)
TOO_LARGE = f"more than {MAX_VALUES:,} values in one record"
# Python refuses to read integers longer than this (a guard against slow conversions).
TOO_LONG = f"a number longer than {sys.get_int_max_str_digits():,} digits"
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
LIST_KEYS = ("scenes", "records", "hyperlexemes")


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
    """The one shape of every problem: ``file:line: field: message``."""
    field_name = _path_text(path) or "record"
    return f"{where.at(path)}: {field_name}: {message}"


def _path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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


# -- JSON Lines and JSON ------------------------------------------------------------------


def _jsonl_records(name: str, text: str) -> Iterator[RawRecord]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = Where(name, number)
        try:
            data = _json_value(line)
        except json.JSONDecodeError as exc:
            yield RawRecord(
                line, where, f"{where.at()}: record: invalid JSON: {exc.msg} (column {exc.colno})"
            )
        except ValueError:  # json's only other refusal: an integer past the digit limit
            yield RawRecord(None, where, f"{where.at()}: record: {TOO_LONG}")
        except RecursionError:
            yield RawRecord(None, where, f"{where.at()}: record: {TOO_DEEP}")
        else:
            yield _checked(data, where, bounded=_bounded(line))


def _json_value(text: str) -> Any:
    """JSON text as Python values. msgspec reads it in 60 % of json's time (the 10k-scene
    bench corpus: 32 vs 54 ms), and where it reads a text it gives what json gives; what it
    refuses (NaN, infinities, lone surrogates, numbers past its range, broken JSON) goes to
    json, which reads the first three and gives the errors this module reports."""
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(text)


def _json_records(name: str, text: str) -> Iterator[RawRecord]:
    try:
        data = _json_value(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            [f"{name}:{exc.lineno}: file: invalid JSON: {exc.msg} (column {exc.colno})"]
        ) from exc
    except ValueError:  # json's only other refusal: an integer past the digit limit
        raise CorpusError([f"{name}:{_long_number_line(text)}: file: {TOO_LONG}"]) from None
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
    bounded = _bounded(text)
    for index, item in enumerate(items):
        yield _checked(
            item, Where(name, lines[index] if index < len(lines) else 1), bounded=bounded
        )


def _long_number_line(text: str) -> int:
    """The line of the first run of digits longer than Python reads as an integer."""
    found = re.search(rf"\d{{{sys.get_int_max_str_digits() + 1},}}", text)
    return text.count("\n", 0, found.start()) + 1 if found else 1


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


# -- the limits every record is held to ---------------------------------------------------


def _checked(
    data: Any, where: Where, node: yaml.Node | None = None, *, bounded: bool = False
) -> RawRecord:
    """A parsed record, refused here if it is too deep or too large to validate safely
    (validation and the sub-scene walk recurse once per level; YAML aliases multiply).
    ``bounded``: its text is too short to break either limit, so it needs no walk."""
    if not bounded and (found := _shape_problem(data)):
        path, message = found
        return RawRecord(None, where, problem(where, path, message))
    if node is not None:
        where = Where(where.file, where.line, _yaml_lines(node))
    return RawRecord(data, where)


def _bounded(text: str) -> bool:
    """Whether JSON text is too short to hold a record beyond the limits: every value takes
    at least one character, every level of nesting an opening bracket of its own."""
    return len(text) <= MAX_VALUES and text.count("[") + text.count("{") <= MAX_NESTING


def _shape_problem(data: Any) -> tuple[tuple, str] | None:
    """(top-level field, message) when the record nests deeper than MAX_NESTING or holds more
    than MAX_VALUES values.

    A depth-first walk with its own stack, so it cannot overflow itself. Each top-level field
    is walked on its own, last first (the order a single stack would take them), and only the
    field's name is carried: the walk runs on every record, so it keeps no per-value paths.
    """
    if not isinstance(data, (dict, list)):
        return None
    values = len(data)
    if values > MAX_VALUES:
        return (), TOO_LARGE
    fields = list(data.items() if isinstance(data, dict) else enumerate(data))
    for key, value in reversed(fields):
        if isinstance(value, (dict, list)):
            message, values = _subtree_problem(value, values)
            if message:
                return (key,), message
    return None


def _subtree_problem(top: dict | list, values: int) -> tuple[str | None, int]:
    """The first limit a top-level field breaks (or None), and the values counted so far."""
    stack: list[tuple[dict | list, int]] = [(top, 2)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            return TOO_DEEP, values
        values += len(value)
        if values > MAX_VALUES:
            return TOO_LARGE, values
        children = value.values() if isinstance(value, dict) else value
        stack += [(child, depth + 1) for child in children if isinstance(child, (dict, list))]
    return None, values


# -- YAML ---------------------------------------------------------------------------------


def _yaml_records(name: str, text: str) -> Iterator[RawRecord]:
    try:
        loader = yaml.SafeLoader(text)  # the reader already refuses control characters
        try:
            node = loader.get_single_node()
            data = None
            if node is not None:
                try:
                    data = loader.construct_document(node)
                except ValueError:  # a scalar its type refuses: say which
                    raise CorpusError([f"{name}:{_bad_yaml_value(node)}"]) from None
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


def _bad_yaml_value(top: yaml.Node) -> str:
    """``line: field: reason`` for the first scalar that cannot be read as its type: a date
    that does not exist, an integer longer than Python reads."""
    constructor = yaml.SafeLoader("")  # fresh: the failed load left its own mid-document
    stack: list[tuple[yaml.Node, tuple]] = [(top, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack += [(value, (*path, key.value)), (key, path)]
        elif isinstance(node, yaml.SequenceNode):
            stack += reversed([(value, (*path, i)) for i, value in enumerate(node.value)])
        else:
            try:
                constructor.construct_object(node)
            except ValueError as exc:
                field_name = _path_text(path) or "file"
                return f"{node.start_mark.line + 1}: {field_name}: {_unreadable(node, exc)}"
    return "1: file: a value YAML cannot read"


def _unreadable(node: yaml.Node, exc: ValueError) -> str:
    kind = node.tag.rsplit(":", 1)[-1]
    if kind == "int":
        return TOO_LONG
    return f"{node.value[:40]!r} is not a {kind}: {exc}"


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

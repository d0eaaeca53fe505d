"""The three record shapes of the source document, and their one validation.

Shapes, detected per record by their key field:

- ``scene``       — the 6.5.1 pair record: scene id, components with ``meta`` (archetypes),
                    ``text_human`` (a text expression) and ``text_alt`` (a symbolic one), style…
- ``hyperlexeme`` — the 6.5.2 record: a hyperlexeme, optionally its scene and components, and
                    its expressions (without ``scene`` the hyperlexeme is the scene's id).
- ``id``          — the 6.5.3 scene record: components, archetypes (or ``meta``), text, nested
                    ``parts`` (sub-scenes, or ids of scenes defined elsewhere), ``leads_to``.

Validation here is the only one a record gets: names and texts come out NFC-normalised,
non-empty and within their lengths, so what is built from them needs no second check.
Fields the shapes do not name are kept (``extras``) and become the scene's or the
expressions' ``props``.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails

from ..models import COMPONENT_KINDS, Form
from ..text import canonical_json, nfc

MAX_NAME = 500
MAX_TEXT = 100_000


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _filled(value: str) -> str:
    value = nfc(value)
    if not value:
        raise ValueError("must not be empty")
    return value


def _storable(value: Any) -> Any:
    """A value the store can keep as JSON (props, provenance, quality): an integer past 64
    bits, a YAML set or binary would fail only when the batch is written."""
    try:
        canonical_json(value)  # what the batch will call on it
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"cannot be stored as JSON: {exc}") from None
    return value


Storable = Annotated[Any, AfterValidator(_storable)]
Name = Annotated[str, StringConstraints(max_length=MAX_NAME), AfterValidator(_filled)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_filled)]
Names = Annotated[list[Name], BeforeValidator(_as_list)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)
    __pydantic_extra__: dict[str, Storable]  # fields the shapes do not name become props

    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class _GraphFields(BaseModel):
    """What the graph adds to an expression; an exported corpus carries it back in."""

    provenance: Annotated[dict[str, Any], AfterValidator(_storable)] | None = None
    quality: Annotated[dict[str, Any], AfterValidator(_storable)] | None = None
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
    # A kind outside these fields is refused by pydantic itself (``_problem`` names it).
    model_config = ConfigDict(extra="forbid")

    agent: Names = Field(default_factory=list)
    field: Names = Field(default_factory=list)
    act: Names = Field(default_factory=list)
    tone: Names = Field(default_factory=list)
    meta: Names = Field(default_factory=list)


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


Record = PairRecord | HyperlexemeRecord | SceneRecord
R = TypeVar("R", bound=BaseModel)


def shape_of(data: dict[str, Any]) -> type[Record] | None:
    """The record shape its key field names, or None when it names none."""
    if "hyperlexeme" in data:
        return HyperlexemeRecord
    if "scene" in data:
        return PairRecord
    if "id" in data:
        return SceneRecord
    return None


def validated(shape: type[R], data: Any) -> R | list[tuple[tuple, str]]:
    """The record, or every (field path, message) pydantic found wrong with it."""
    try:
        return shape.model_validate(data)
    except ValidationError as exc:
        return [_problem(error) for error in exc.errors(include_url=False)]


def _problem(error: ErrorDetails) -> tuple[tuple, str]:
    """(field path, message) of one pydantic error."""
    loc = tuple(part for part in error["loc"] if part != "function-after")
    if error["type"] == "extra_forbidden":  # only ComponentsIn forbids: a kind it does not know
        kinds = f"expected {', '.join(COMPONENT_KINDS)} or meta"
        return loc[:-1], f"unknown component kind {loc[-1]!r} ({kinds})"
    return loc, _message(error)


def _message(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str) and len(value) > 40:
        return f"{message} (got {len(value)} characters)"
    return message

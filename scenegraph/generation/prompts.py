"""Prompt templates: Jinja2 files a user may override, versioned by a hash of their text.

The bundled templates live in ``templates/``; ``--templates DIR`` puts files of the same names
in front of them. ``system.j2`` and ``user.j2`` make a request, ``reask.j2`` the one corrective
follow-up, ``offline.j2`` the text of the offline template provider. Every user message ends
with a ``KEYS: [...]`` line naming the slots the answer must fill (added here, not by the
template, so an overriding template cannot lose it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
)

from ..errors import ConfigError
from ..text import content_hash
from .plan import Slot, Subject

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PROMPT_TEMPLATES = ("system.j2", "user.j2", "reask.j2")
OFFLINE_TEMPLATE = "offline.j2"

Messages = list[dict[str, str]]


class Keyed(Protocol):
    """What a KEYS line names: a slot, or anything else with a ``key``."""

    @property
    def key(self) -> str: ...


class Prompts:
    def __init__(self, override_dir: Path | None = None):
        if override_dir is not None and not Path(override_dir).is_dir():
            raise ConfigError(f"--templates {override_dir}: not a folder of .j2 templates")
        loaders = [FileSystemLoader(override_dir)] if override_dir else []
        self.env = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(TEMPLATE_DIR)]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self._templates = {
            name: self._compile(name) for name in (*PROMPT_TEMPLATES, OFFLINE_TEMPLATE)
        }

    def _compile(self, name: str):
        try:
            return self.env.get_template(name)
        except TemplateError as exc:
            raise ConfigError(f"template {name}: {exc}") from exc

    def hash(self, names: Iterable[str]) -> str:
        """Hash of the named templates' text as loaded (overrides included)."""
        loader = cast(BaseLoader, self.env.loader)  # set in __init__
        return content_hash({name: loader.get_source(self.env, name)[0] for name in sorted(names)})

    def render(self, name: str, **values: Any) -> str:
        try:
            return self._templates[name].render(**values).strip()
        except TemplateError as exc:
            raise ConfigError(f"template {name}: {exc}") from exc

    def messages(self, subject: Subject, slots: list[Slot]) -> Messages:
        """The chat messages asking for ``slots`` of ``subject``."""
        values = _values(subject, slots)
        return [
            {"role": "system", "content": self.render("system.j2", **values)},
            {"role": "user", "content": self.render("user.j2", **values) + keys_line(slots)},
        ]

    def reask(
        self, messages: Messages, answer: str, subject: Subject, slots: list[Slot], problem: str
    ) -> Messages:
        """The conversation so far plus one corrective turn asking again for ``slots``."""
        text = self.render("reask.j2", problem=problem, **_values(subject, slots))
        return [
            *messages,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": text + keys_line(slots)},
        ]

    def offline(self, subject: Subject, slot: Slot) -> str:
        """The template provider's text for one slot: filled from the components, no model."""
        return self.render(OFFLINE_TEMPLATE, **_values(subject, [slot]), slot=_slot_view(slot))


def keys_line(slots: Sequence[Keyed]) -> str:
    return "\n\nKEYS: " + json.dumps([slot.key for slot in slots], ensure_ascii=False)


def _values(subject: Subject, slots: list[Slot]) -> dict[str, Any]:
    return {
        "scenes": subject.context["scenes"],
        "passage": subject.is_passage,
        "lang": subject.lang,
        "slots": [_slot_view(slot) for slot in slots],
    }


def _slot_view(slot: Slot) -> dict[str, Any]:
    def voice(v):
        return {"name": v.name, "instruction": v.instruction} if v else None

    return {
        "key": slot.key,
        "style": voice(slot.style),
        "register": voice(slot.register),
        "tone": voice(slot.tone),
        "form": voice(slot.form),
        "target": slot.target,
    }

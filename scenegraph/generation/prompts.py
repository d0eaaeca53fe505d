"""Prompt templates: Jinja2 files a user may override, versioned by a hash of their text.

The bundled templates live in ``templates/``; ``--templates DIR`` puts files of the same names
in front of them. ``system.j2`` and ``user.j2`` make a request, ``reask.j2`` the one corrective
follow-up, ``offline.j2`` the text of the offline template provider. Every user message ends
with a ``KEYS: [...]`` line naming the slots the answer must fill (added here, not by the
template, so an overriding template cannot lose it).

``ask`` and ``reask`` make the request a provider answers: messages for a model, or the
``offline.j2`` text of each slot for a provider that does not read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
)

from ..errors import ConfigError
from ..llm.base import Ask, Messages
from ..llm.parse import keys_line
from ..text import content_hash
from .plan import Slot, Subject

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PROMPT_TEMPLATES = ("system.j2", "user.j2", "reask.j2")
OFFLINE_TEMPLATE = "offline.j2"


def template_names(reads_prompt: bool) -> tuple[str, ...]:
    """The templates whose text decides the answers of a provider that reads the prompt, or
    of one that answers offline."""
    return PROMPT_TEMPLATES if reads_prompt else (OFFLINE_TEMPLATE,)


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
            {"role": "user", "content": self.render("user.j2", **values) + _keys(slots)},
        ]

    def ask(self, subject: Subject, slots: list[Slot], reads_prompt: bool) -> Ask:
        """The request for ``slots`` of ``subject``: its messages for a provider that reads
        them, else (rendering only what is read) the offline text of each slot."""
        keys = [slot.key for slot in slots]
        if reads_prompt:
            return Ask(keys, self.messages(subject, slots))
        return Ask(keys, [], {slot.key: self.offline(subject, slot) for slot in slots})

    def reask(
        self, ask: Ask, answer: str, subject: Subject, slots: list[Slot], problem: str
    ) -> Ask:
        """``ask`` plus one corrective turn asking again for ``slots``."""
        text = self.render("reask.j2", problem=problem, **_values(subject, slots))
        keys = [slot.key for slot in slots]
        messages = [
            *ask.messages,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": text + _keys(slots)},
        ]
        return Ask(keys, messages, {k: v for k, v in ask.offline.items() if k in keys})

    def offline(self, subject: Subject, slot: Slot) -> str:
        """The template provider's text for one slot: filled from the components, no model."""
        return self.render(OFFLINE_TEMPLATE, **_values(subject, [slot]), slot=_slot_view(slot))


def _keys(slots: list[Slot]) -> str:
    return keys_line([slot.key for slot in slots])


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

"""The provider interface: one method that answers one request.

A provider raises ``Retryable`` when the same request may succeed later (rate limits, server
errors, timeouts, dropped connections), ``Rejected`` when this request will never succeed (the
item fails with the reason), and ``ProviderError`` when no request can succeed (wrong key,
unknown model): the run stops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..plan import Slot, Subject
from ..prompts import PROMPT_TEMPLATES, Messages


@dataclass(frozen=True)
class Ask:
    """One request: the messages, and what they were rendered from (for the offline provider)."""

    subject: Subject
    slots: list[Slot]
    messages: Messages

    @property
    def keys(self) -> list[str]:
        return [slot.key for slot in self.slots]


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


class Retryable(Exception):
    """Try again later; ``retry_after`` is the server's wish in seconds, when it said one."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Rejected(Exception):
    """This request will not succeed as it is."""


class Provider(ABC):
    name: str
    model: str
    endpoint: str | None = None  # host[:port] only: never credentials
    reads_prompt = True  # False for a provider that answers from the slots, not the messages

    @abstractmethod
    async def complete(self, ask: Ask) -> Completion:
        """Answer one request (no retries here: the runner retries)."""

    def params(self) -> dict[str, Any]:
        """Parameters that change what this provider answers (they go into keys and provenance)."""
        return {}

    def template_names(self) -> tuple[str, ...]:
        """The templates whose text decides this provider's answers."""
        return PROMPT_TEMPLATES

    async def aclose(self) -> None:  # noqa: B027 -- an optional hook: a no-op unless overridden
        """Release connections."""

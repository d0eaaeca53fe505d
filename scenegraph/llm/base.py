"""The provider interface: one method that answers one request.

A provider raises ``Retryable`` when the same request may succeed later (rate limits, server
errors, timeouts, dropped connections), ``Rejected`` when this request will never succeed (the
caller records the reason), and ``ProviderError`` when no request can succeed (wrong key,
unknown model): the run stops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import msgspec

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Ask:
    """One request: the keys its answer must fill and the chat messages asking for them.

    ``offline`` holds, for a provider that does not read the messages, the text to answer for
    each key; the caller renders it, so this package needs nothing of what the caller asks about.
    """

    keys: list[str]
    messages: Messages
    offline: dict[str, str] = field(default_factory=dict)


class Completion(msgspec.Struct, frozen=True):
    """One answer. Immutable; a frozen msgspec struct rather than a dataclass or a named tuple
    because a batch's result file makes one per request (50,000 a file) and it is built in C:
    about a fifth of a named tuple's time and a tenth of a frozen dataclass's (timeit)."""

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
    reads_prompt = True  # False for a provider that answers from ``Ask.offline``

    @abstractmethod
    async def complete(self, ask: Ask) -> Completion:
        """Answer one request (no retries here: ``retry.call_with_retries`` retries)."""

    def params(self) -> dict[str, Any]:
        """Parameters that change what this provider answers (they go into keys and provenance)."""
        return {}

    async def aclose(self) -> None:  # noqa: B027 -- an optional hook: a no-op unless overridden
        """Release connections."""

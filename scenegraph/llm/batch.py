"""Batch APIs: many requests sent as one batch, answered within hours at half the list price.

A ``BatchClient`` wraps a provider (``openai_batch``: OpenAI's Batch API, a JSONL file
uploaded and ``/v1/batches``; ``anthropic_batch``: Anthropic's Message Batches). Each request
is the body the provider's ``complete`` sends for the same ``Ask``, under a ``custom_id`` (the
caller's request key) that maps its result back.

What the caller does around it, so that no request is sent twice: journal the batch and its
requests (``Journal.open_batch``) *before* ``submit``; record the server's id after it. A
batch journaled without an id was being submitted when the run stopped: ``find`` asks the
server whether it created it (``FOUND``/``None``/``UNDECIDED``) before anything is sent again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import msgspec

from ..errors import ConfigError
from ..text import content_hash
from .base import Ask, Completion, Provider

# How much earlier than our journal's timestamp a server may date a batch we created (clocks
# differ); a batch older than that is not one of ours.
CLOCK_SLACK = timedelta(minutes=5)
RETRY_STATUS = {408, 409, 429}  # and every 5xx: a request failing so is sent again

P = TypeVar("P", bound=Provider)


@dataclass(frozen=True)
class BatchRequest:
    custom_id: str
    ask: Ask


@dataclass(frozen=True)
class BatchProgress:
    """What the server says of a batch: its status in its own words, whether it has ended
    (every request has a result, or never will), and its counts so far."""

    status: str
    ended: bool
    done: int
    failed: int
    total: int


class BatchResult(msgspec.Struct, frozen=True):
    """One request's result: a completion, or why there is none and whether to send it again
    (expired, canceled, a rate limit or server error) or not (the request was refused).
    A frozen msgspec struct, like ``Completion``: one is made per line of a result file."""

    custom_id: str
    completion: Completion | None = None
    error: str | None = None
    retry: bool = False

    def journal_row(self) -> tuple[str, str, str | None, str | None]:
        """(custom id, state, payload JSON, reason) as ``Journal.batch_ended`` takes it."""
        if self.completion is None:
            return (self.custom_id, "retry" if self.retry else "errored", None, self.error)
        c = self.completion
        payload = {
            "text": c.text,
            "finish_reason": c.finish_reason,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
        }
        return (self.custom_id, "answered", _dumps(payload), None)


class Undecided:
    """``find``'s answer when the server holds a batch that may be ours but cannot tell yet."""


UNDECIDED = Undecided()


class BatchClient(ABC, Generic[P]):
    """A provider's batch API; errors come out as the provider's (``Retryable``, ``Rejected``,
    ``ProviderError``), the key scrubbed."""

    endpoint_name: str

    def __init__(self, provider: P):
        self.provider = provider

    @abstractmethod
    async def submit(self, batch_id: str, requests: list[BatchRequest]) -> str:
        """Send the requests as one batch tagged ``batch_id``; the server's id for it."""

    @abstractmethod
    async def find(
        self, batch_id: str, since: datetime, custom_ids: set[str], known: set[str]
    ) -> str | Undecided | None:
        """The server's id of the batch ``batch_id`` (journaled at ``since``, holding
        ``custom_ids``) if the server created it; None if it did not; ``UNDECIDED`` while it
        cannot tell. ``known`` are server ids already journaled (not candidates)."""

    @abstractmethod
    async def progress(self, remote_id: str) -> BatchProgress: ...

    @abstractmethod
    async def results(self, remote_id: str, custom_ids: set[str]) -> list[BatchResult]:
        """One result for each of ``custom_ids`` of an ended batch (those the server has no
        result for: expired, to send again)."""

    async def aclose(self) -> None:
        await self.provider.aclose()


def make_batch_client(provider: Provider) -> BatchClient[Any]:
    """The batch API of ``provider``'s service; ``ConfigError`` for one without (template)."""
    if provider.name == "openai":
        from .openai_batch import OpenAIBatch
        from .openai_chat import OpenAIProvider

        assert isinstance(provider, OpenAIProvider)
        return OpenAIBatch(provider)
    if provider.name == "anthropic":
        from .anthropic_batch import AnthropicBatch
        from .anthropic_messages import AnthropicProvider

        assert isinstance(provider, AnthropicProvider)
        return AnthropicBatch(provider)
    raise ConfigError(
        f"--batch needs a provider with a batch API (openai or anthropic), not {provider.name}"
    )


def request_key(item_keys: list[str]) -> str:
    """The custom id of a request for these items: stable across runs, and within both APIs'
    limits (Anthropic: 1-64 characters of letters, digits, ``_`` and ``-``)."""
    return "r" + content_hash(sorted(item_keys), length=40)


def missing_results(custom_ids: set[str], seen: set[str], why: str) -> list[BatchResult]:
    """Results for the requests a server returned nothing for: sent again."""
    return [BatchResult(cid, error=why, retry=True) for cid in sorted(custom_ids - seen)]


def _dumps(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()

"""The retry policy: one provider call, tried again with backoff while it may still succeed.

Each attempt has a timeout and, while in flight (not while it waits to retry), holds a place
under the run's ``AdaptiveConcurrency``, which learns from how it ends; a ``Retryable`` failure
(or the timeout) waits an exponential backoff with equal jitter, never less than the server's
``Retry-After``; a ``Rejected`` request or the last failed attempt raises ``GaveUp`` with the
reason, for the caller to record.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from .base import Ask, Completion, Provider, Rejected, Retryable
from .concurrency import AdaptiveConcurrency

MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 300.0

Wait = Callable[[float, Exception], Awaitable[None]]


class RetryPolicy(BaseModel):
    """How hard to try one request: attempts in all, the first backoff, a timeout per attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(ge=1)
    backoff_s: float = Field(ge=0.0)
    timeout_s: float = Field(gt=0.0)


class RetryOptions(Protocol):
    """What a run's options say about retrying (generation's and the judge's alike)."""

    @property
    def retries(self) -> int: ...
    @property
    def backoff_s(self) -> float: ...
    @property
    def timeout_s(self) -> float: ...


def policy_of(options: RetryOptions) -> RetryPolicy:
    """The policy that options ask for: ``retries`` attempts after the first one."""
    return RetryPolicy(
        attempts=options.retries + 1, backoff_s=options.backoff_s, timeout_s=options.timeout_s
    )


class GaveUp(Exception):
    """Retries exhausted, or the request was rejected: the message is the reason to record."""


async def call_with_retries(
    provider: Provider,
    ask: Ask,
    policy: RetryPolicy,
    rng: random.Random,
    wait: Wait | None = None,
    limit: AdaptiveConcurrency | None = None,
) -> Completion:
    """The provider's answer to ``ask`` under ``policy``.

    ``wait(seconds, problem)`` sleeps before a retry (by default ``asyncio.sleep``); a caller
    passes its own to log or count retries. Each attempt waits for a place under ``limit``
    when one is given. Raises ``GaveUp``.
    """
    for attempt in range(policy.attempts):
        try:
            async with _place(limit), asyncio.timeout(policy.timeout_s):
                return await provider.complete(ask)
        except TimeoutError:
            problem = Retryable(f"no answer within {policy.timeout_s:g} s")
        except Retryable as exc:
            problem = exc
        except Rejected as exc:
            raise GaveUp(str(exc)) from None
        if attempt + 1 == policy.attempts:
            raise GaveUp(f"{problem} (gave up after {policy.attempts} attempts)")
        delay = backoff_delay(attempt, policy.backoff_s, problem.retry_after, rng)
        await (wait(delay, problem) if wait else asyncio.sleep(delay))
    raise AssertionError("unreachable")


def _place(limit: AdaptiveConcurrency | None) -> AbstractAsyncContextManager[None]:
    return limit.slot() if limit is not None else nullcontext()


def backoff_delay(
    attempt: int, base_s: float, retry_after: float | None, rng: random.Random
) -> float:
    """Exponential backoff with equal jitter, never shorter than the server's Retry-After."""
    ceiling = min(MAX_BACKOFF_S, base_s * 2**attempt)
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER_S))

"""Adaptive concurrency: how many calls may be in flight, learnt from how calls end (AIMD).

The user's ``-c`` is the ceiling; the level starts lower and moves like TCP's congestion window:

* the threshold is the most calls in flight known to pass: none at first; after an overload,
  the number in flight when the failing call was sent, less one (and at least the halved
  level); after a probe's rounds of successes, the level probed;
* below the threshold each success adds one, so the level doubles every round, and the calls
  still in flight at a halving bring it back to that threshold as they succeed;
* at or above it, rounds of successes (``level`` each) add one: the careful probe upward,
  ``PROBE_ROUNDS`` rounds at first, twice as many after each probe that failed, at most
  ``MOST_PROBE_ROUNDS``;
* an overload signal (a ``Retryable`` failure: 429, 529, 5xx, a dropped connection; or a
  timeout) acts at most once per round: failures of calls that started before the last
  decrease say nothing new. Above the threshold it ends the probe: the level steps back to the
  threshold. At or below it the server can take less than it took before: the level halves.
  The provider layer reports one kind of retryable failure, and a server under load answers
  with any of them, so all count.

A success counts only while the level is in use (at least half of it in flight as the call
ends): at the end of a run, with fewer calls left than the level, nothing is learnt.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .base import Retryable

START_LEVEL = 4
# Rounds of successes at or above the threshold for each step up; each probe past a server's
# limit costs a 429 and a step back, so a probe that failed makes the next one wait twice as
# long, up to a cap that still finds a limit that has risen. Against a fixed limit
# (bench/aimd.py) this reached 0.96 of the best fixed concurrency's throughput with 0.7 % of
# requests refused; halving on each failed probe every fourth round, 0.93 and 1.3 %.
PROBE_ROUNDS = 4
MOST_PROBE_ROUNDS = 32


class AdaptiveConcurrency:
    """At most ``level`` calls in flight at once, ``level`` between 1 and ``ceiling``."""

    def __init__(self, ceiling: int, start: int = START_LEVEL):
        self.ceiling = ceiling
        self.level = max(1, min(start, ceiling))
        self.in_flight = 0
        self.overloads = 0  # overload signals seen, whether they lowered the level or not
        self._threshold = ceiling
        self._successes = 0
        self._probe_rounds = PROBE_ROUNDS
        self._epoch = 0  # bumped at each decrease
        self._waiting: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place for one call; how the block ends (normally, a ``Retryable`` or a
        ``TimeoutError``, anything else) is what the level learns from."""
        await self._acquire()
        self.in_flight += 1
        epoch, position = self._epoch, self.in_flight
        try:
            yield
        except (Retryable, TimeoutError):
            self._overloaded(epoch, position)
            raise
        else:
            self._succeeded()
        finally:
            self.in_flight -= 1
            self._wake()

    async def _acquire(self) -> None:
        while self.in_flight >= self.level:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._wake()  # woken, then cancelled: pass the turn on
                raise

    def _wake(self) -> None:
        free = self.level - self.in_flight
        while free > 0 and self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                free -= 1

    def _succeeded(self) -> None:
        if 2 * self.in_flight < self.level:
            return
        self._successes += 1
        if self.level >= self._threshold:
            if self._successes < self.level * self._probe_rounds:
                return
            if self.level > self._threshold:  # the probe's rounds passed: the level is good
                self._threshold = self.level
                self._probe_rounds = PROBE_ROUNDS
        self._successes = 0
        self.level = min(self.ceiling, self.level + 1)
        self._wake()

    def _overloaded(self, epoch: int, position: int) -> None:
        self.overloads += 1
        if epoch != self._epoch:
            return
        self._epoch += 1
        self._successes = 0
        if self.level > self._threshold:  # a probe failed: back to the most known to pass
            self.level = self._threshold
            self._probe_rounds = min(MOST_PROBE_ROUNDS, 2 * self._probe_rounds)
            return
        self.level = max(1, self.level // 2)
        self._threshold = max(self.level, position - 1)
        self._probe_rounds = PROBE_ROUNDS

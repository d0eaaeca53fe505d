"""Adaptive concurrency (``llm.concurrency``): the AIMD level as a unit, then a `generate` run
against a loopback server that answers 429 above a number of requests in flight it keeps to
itself (tests/chat_server.py ``max_in_flight``)."""

from __future__ import annotations

import asyncio

import pytest

from chat_server import ChatServer
from scenegraph.generation import GenerateOptions, generate
from scenegraph.llm.base import Rejected, Retryable
from scenegraph.llm.concurrency import START_LEVEL, AdaptiveConcurrency

KEY_ENV = "SCENEGRAPH_TEST_KEY"


async def succeed(limit: AdaptiveConcurrency, times: int = 1) -> None:
    for _ in range(times):
        async with limit.slot():
            pass


async def fail(limit: AdaptiveConcurrency, problem: Exception) -> None:
    with pytest.raises(type(problem)):
        async with limit.slot():
            raise problem


def run(scenario) -> None:
    asyncio.run(scenario())


async def busy(limit: AdaptiveConcurrency, calls: int, capacity: int | None = None,
               workers: int = 64) -> tuple[int, list[tuple[int, int]]]:
    """``calls`` calls from ``workers`` workers against a server that answers 429 above
    ``capacity`` in flight: the 429s, and (in flight, level) as each call began."""
    pending = iter(range(calls))
    seen: list[tuple[int, int]] = []
    rejected = 0

    async def call() -> None:
        nonlocal rejected
        async with limit.slot():
            seen.append((limit.in_flight, limit.level))
            if capacity is not None and limit.in_flight > capacity:
                rejected += 1
                raise Retryable("429")
            await asyncio.sleep(0.001)

    async def worker() -> None:
        for _ in pending:
            while True:
                try:
                    await call()
                    break
                except Retryable:
                    await asyncio.sleep(0.001)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return rejected, seen


def test_it_starts_low_and_climbs_to_the_ceiling_while_nothing_fails():
    async def scenario():
        limit = AdaptiveConcurrency(ceiling=64)
        assert limit.level == START_LEVEL == 4
        await succeed(limit, 100)  # one call at a time: the level is not in use, nothing learnt
        assert limit.level == 4
        await busy(limit, 300)
        assert limit.level == 64 and limit.overloads == 0  # never above the ceiling
        assert AdaptiveConcurrency(ceiling=2).level == 2

    run(scenario)


def test_an_overload_halves_once_a_round_and_the_level_never_drops_below_one():
    async def scenario():
        limit = AdaptiveConcurrency(ceiling=64, start=24)
        failing, succeeding = asyncio.Event(), asyncio.Event()

        async def call(problem: Exception | None) -> None:
            async with limit.slot():
                await (failing if problem else succeeding).wait()
                if problem:
                    raise problem

        # A round of 24 in flight: the last three sent come back 429 or 529 or time out (the
        # server takes 21), then the 21 succeed.
        problems = [None] * 21 + [Retryable("429"), TimeoutError(), Retryable("529")]
        calls = [asyncio.create_task(call(p)) for p in problems]
        await asyncio.sleep(0)
        failing.set()
        await asyncio.gather(*calls[21:], return_exceptions=True)
        assert limit.level == 12 and limit.overloads == 3  # halved once, not three times
        succeeding.set()
        await asyncio.gather(*calls[:21])
        assert limit.level == 21  # the 429 was the 22nd sent: 21 regained, one a success

        await fail(limit, Rejected("400"))  # a rejected request says nothing about load
        assert limit.level == 21
        for _ in range(10):
            await fail(limit, Retryable("429"))  # each call alone: a round each
        assert limit.level == 1

    run(scenario)


def test_it_settles_near_a_hidden_capacity_with_few_429s():
    async def scenario():
        limit = AdaptiveConcurrency(ceiling=64)
        rejected, seen = await busy(limit, 3000, capacity=10)
        assert rejected <= 0.05 * 3000
        later = [level for _, level in seen[len(seen) // 2 :]]
        assert 8 <= sum(later) / len(later) <= 12 and max(later) <= 16
        assert all(in_flight <= level for in_flight, level in seen)

    run(scenario)


def test_a_failed_probe_steps_back_to_the_level_known_to_pass_and_the_next_waits_longer():
    async def scenario():
        limit = AdaptiveConcurrency(ceiling=64)
        rejected, seen = await busy(limit, 3000, capacity=6)
        later = [level for _, level in seen[len(seen) // 2 :]]
        assert min(later) == 6 and max(later) == 7  # a probe one above, then back: no halving
        # Probing every fourth round all run long, ~100 refused; twice as long after each failure:
        assert rejected <= 30

    run(scenario)


def test_never_more_in_flight_than_the_level():
    async def scenario():
        limit = AdaptiveConcurrency(ceiling=10, start=3)
        peak = []

        async def call(n: int) -> None:
            async with limit.slot():
                peak.append((limit.in_flight, limit.level))
                await asyncio.sleep(0.001)
                if n % 7 == 0:
                    raise Retryable("429")

        await asyncio.gather(*(call(n) for n in range(200)), return_exceptions=True)
        assert all(in_flight <= level for in_flight, level in peak)
        assert limit.in_flight == 0 and 1 <= limit.level <= 10

    run(scenario)


def test_a_cancelled_waiter_passes_its_turn_on():
    async def scenario():
        limit = AdaptiveConcurrency(ceiling=1)
        release = asyncio.Event()

        async def holder() -> None:
            async with limit.slot():
                await release.wait()

        async def waiter() -> None:
            async with limit.slot():
                pass

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        doomed, patient = asyncio.create_task(waiter()), asyncio.create_task(waiter())
        await asyncio.sleep(0)
        release.set()
        await first  # wakes `doomed`, which is cancelled before it runs
        doomed.cancel()
        await asyncio.wait_for(patient, 1)
        assert limit.in_flight == 0

    run(scenario)


# -- against a server that limits requests in flight --------------------------------------


@pytest.fixture
def store(seeded_copy):
    return seeded_copy


def test_generate_converges_under_a_hidden_in_flight_limit_with_few_429s(store, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")
    levels: list[int] = []
    # 100 ms a request: long beside a busy machine's scheduling delays, which otherwise blur
    # what the client sees of the server's in-flight count.
    with ChatServer(latency_ms=100) as server:
        server.set_faults(max_in_flight=6, retry_after_s=0.02)
        opts = GenerateOptions(provider="openai", base_url=server.base_url, model="m",
                               api_key_env=KEY_ENV, mode="one", concurrency=32, backoff_s=0.01,
                               limit=40)
        report = generate(store, opts, progress=lambda state: levels.append(state.concurrency))
        log = [e for e in server.log() if e["path"] == "/v1/chat/completions"]
    assert report.generated == report.planned == 40 * 7 and report.failed == 0
    rejected = sum(1 for e in log if e["fault"] == "in_flight")
    assert rejected <= 0.05 * len(log), (rejected, len(log))
    settled = levels[len(levels) // 3 :]  # after the first probes
    assert max(settled) <= 12 and sum(settled) / len(settled) >= 4, levels

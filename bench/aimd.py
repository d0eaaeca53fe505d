"""Adaptive concurrency: our AIMD level vs the best fixed concurrency, same server, same run.

A loopback chat-completions server (tests/chat_server.py, its own process) answers each request
after a fixed latency, and 429 at once (``Retry-After``) to one arriving while ``--capacity``
are in flight: a number the client is not told. The raw AsyncOpenAI client, at each fixed
concurrency of a sweep, sends the requests with a semaphore and retries each 429 after the
server's ``Retry-After``; the best of the sweep is the baseline. Ours sends the same requests
through our model-call layer (``OpenAIProvider``, ``call_with_retries`` and
``AdaptiveConcurrency`` with ``--ceiling`` as its ceiling, as ``generate -c`` does). Reported
(bench/_common.report): requests/s of each, the ratio against the 0.9 target, and the share of
requests that got a 429 (at most 5 %). The latency is long enough (300 ms) that the server's
limit, not the client's CPU, bounds the throughput: at 100 ms on two cores the client is.

    .venv/bin/python bench/aimd.py                    # 1,500 requests, capacity 24, ceiling 64
    .venv/bin/python bench/aimd.py --capacity 10 --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from openai import AsyncOpenAI, RateLimitError

from _common import Result, report  # first: it puts the repo and tests/ on sys.path
from chat_server import ChatServer

from scenegraph.llm.base import Ask
from scenegraph.llm.concurrency import AdaptiveConcurrency
from scenegraph.llm.openai_chat import OpenAIProvider
from scenegraph.llm.retry import RetryPolicy, call_with_retries

TARGET = 0.9  # ours / the best fixed concurrency's throughput
MOST_429S = 0.05  # of requests sent
KEY = "sk-bench"


def messages(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Say something about scene {i}."}] for i in range(n)]


async def raw_fixed(base_url: str, requests: list, concurrency: int, retry_after: float) -> int:
    """Every request with the bare client at a fixed concurrency, a 429 retried after the
    server's Retry-After; the 429s received."""
    client = AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)
    rejected = 0

    async def one(body) -> None:
        nonlocal rejected
        while True:
            async with semaphore:
                try:
                    await client.chat.completions.create(model="bench", messages=body)
                    return
                except RateLimitError:
                    rejected += 1
            await asyncio.sleep(retry_after)

    await asyncio.gather(*(one(m) for m in requests))
    await client.close()
    return rejected


async def ours(base_url: str, requests: list, ceiling: int) -> tuple[int, int]:
    """The same requests through our call layer under the adaptive level, ``ceiling`` workers
    as ``generate`` has; the 429s received and the level at the end."""
    provider = OpenAIProvider(model="bench", api_key=KEY, key_env="KEY", base_url=base_url,
                              json_mode=False)
    limit = AdaptiveConcurrency(ceiling)
    policy = RetryPolicy(attempts=100, backoff_s=0.01, timeout_s=30)
    rng = random.Random(0)
    pending = iter(requests)

    async def worker() -> None:
        for body in pending:
            await call_with_retries(provider, Ask(["k"], body), policy, rng, limit=limit)

    await asyncio.gather(*(worker() for _ in range(ceiling)))
    await provider.aclose()
    return limit.overloads, limit.level


def timed(coroutine) -> tuple[object, float]:
    started = time.perf_counter()
    result = asyncio.run(coroutine)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--capacity", type=int, default=24, help="in flight before 429s")
    parser.add_argument("--ceiling", type=int, default=64, help="ours: -c, the most in flight")
    parser.add_argument("--sweep", type=int, nargs="+", default=[16, 20, 24, 28, 32, 48])
    parser.add_argument("--latency-ms", type=float, default=300)
    parser.add_argument("--retry-after-s", type=float, default=0.1)
    args = parser.parse_args()
    requests = messages(args.requests)
    print(f"aimd: {args.requests} requests, server latency {args.latency_ms:g} ms, 429 above "
          f"{args.capacity} in flight (Retry-After {args.retry_after_s:g} s)", flush=True)
    with ChatServer(latency_ms=args.latency_ms) as server:
        server.set_faults(max_in_flight=args.capacity, retry_after_s=args.retry_after_s)
        fixed = {}
        for concurrency in args.sweep:
            rejected, wall = timed(raw_fixed(server.base_url, requests, concurrency,
                                             args.retry_after_s))
            fixed[concurrency] = args.requests / wall
            print(f"  fixed c={concurrency}: {fixed[concurrency]:.1f} requests/s, "
                  f"{rejected} 429s", flush=True)
        best = max(fixed, key=fixed.__getitem__)
        server.reset()
        server.set_faults(max_in_flight=args.capacity, retry_after_s=args.retry_after_s)
        (overloads, level), wall = timed(ours(server.base_url, requests, args.ceiling))
        log = [e for e in server.log() if e["path"] == "/v1/chat/completions"]
    rejected = sum(1 for e in log if e["fault"] == "in_flight")
    share = rejected / len(log)
    print(f"  ours (AIMD, ceiling {args.ceiling}): {args.requests / wall:.1f} requests/s, "
          f"{rejected} 429s of {len(log)} requests ({share:.1%}), level at the end {level}")
    note = (f"best fixed c={best}; 429s {share:.1%} of requests (at most {MOST_429S:.0%}: "
            f"{'yes' if share <= MOST_429S else 'NO'}); level at the end {level}")
    report([Result(f"AIMD vs best fixed, capacity {args.capacity}", args.requests / wall,
                   fixed[best], "requests/s", TARGET, note=note)])


if __name__ == "__main__":
    main()

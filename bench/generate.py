"""Generation throughput: our `generate` vs the raw AsyncOpenAI client, same requests, same run.

A loopback chat-completions server (tests/chat_server.py, its own process) answers every request
after a fixed latency. For each concurrency, a fresh embedded store of synthetic scenes is planned
into 2,000 one-output requests; our `generate` runs them end to end (plan, journal, retries,
parsing, graph writes), and the raw client sends the very same messages with a semaphore and
nothing else. Reported (bench/_common.report, gathered by `make bench`): requests/s of each
(medians of ``--repeat`` runs taken in turn), the ratio ours / raw against the 0.85 target, and
CPU time per request (raw) and per generated pair (ours; this process, all threads: planning,
journal and graph writes included).

    .venv/bin/python bench/generate.py                       # 2,000 requests, c=16 and c=64
    .venv/bin/python bench/generate.py --requests 500 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from openai import AsyncOpenAI

from _common import Result, report  # first: it puts the repo and tests/ on sys.path
from chat_server import ChatServer

from scenegraph.graph.batch import GraphBatch
from scenegraph.generation import GenerateOptions, generate
from scenegraph.generation.config import load_config
from scenegraph.generation.plan import Recipe, build_plan, plan_slots
from scenegraph.generation.prompts import Prompts
from scenegraph.generation.run import group_requests
from scenegraph.models import Component, Scene
from scenegraph.graph.ladybug import LadybugStore

TARGET = 0.85  # ours / raw throughput (the bar at c=64)
STYLES = ["философ", "инженер", "ребёнок", "поэт", "архитектор"]
KEY = "sk-bench"
AGENTS = ["тело", "рука", "голос", "старик", "путник", "ребёнок", "сердце", "взгляд"]
FIELDS = ["тишина", "море", "дверь", "лес", "город", "ночь", "дом", "поле"]
ACTS = ["шаг", "вдох", "зов", "поиск", "касание", "ожидание", "вход", "остановка"]


def synthetic_store(folder: Path, scenes: int) -> LadybugStore:
    """A store of ``scenes`` small scenes in chains of four, each with three components."""
    store = LadybugStore(folder)
    store.init_schema()
    rows = [Scene(id=f"B{i}", title=f"Сцена {i}", lang="ru",
                  text=f"{AGENTS[i % 8]} и {FIELDS[i // 8 % 8]}: {ACTS[i // 64 % 8]}.",
                  components=[Component(kind="agent", name=AGENTS[i % 8]),
                              Component(kind="field", name=FIELDS[i // 8 % 8]),
                              Component(kind="act", name=ACTS[i // 64 % 8])],
                  leads_to=[f"B{i + 1}"] if i % 4 != 3 and i + 1 < scenes else [])
            for i in range(scenes)]
    store.upsert(GraphBatch.of(rows))
    return store


def options(base_url: str, concurrency: int) -> GenerateOptions:
    return GenerateOptions(provider="openai", base_url=base_url, model="bench", mode="one",
                           styles=STYLES, neighbours=0, concurrency=concurrency,
                           api_key_env="SCENEGRAPH_BENCH_KEY", json_mode=False)


def same_messages(store: LadybugStore, opts: GenerateOptions) -> list[list[dict[str, str]]]:
    """The messages our run sends, rendered the same way (not timed)."""
    prompts = Prompts()
    slots = plan_slots(load_config(), opts)
    plan = build_plan(store, opts, slots, Recipe("openai", opts.model, "", {}))
    return [prompts.messages(subject, [i.slot for i in items])
            for subject, items in group_requests(plan.items, opts)]


async def raw_client(base_url: str, requests: list, concurrency: int) -> int:
    """Send every request with the bare client at this concurrency; answers received."""
    client = AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(messages) -> str:
        async with semaphore:
            response = await client.chat.completions.create(
                model="bench", messages=messages, temperature=0.9, max_tokens=1024)
            return response.choices[0].message.content

    answers = await asyncio.gather(*(one(m) for m in requests))
    await client.close()
    return sum(1 for a in answers if a)


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(server: ChatServer, concurrency: int, requests: int, workdir: Path,
            repeat: int) -> Result:
    """Raw and ours in turn, ``repeat`` times each on fresh stores; medians of each figure."""
    scenes = requests // len(STYLES)
    opts = options(server.base_url, concurrency)
    runs: dict[str, list[tuple[float, float]]] = {"raw": [], "ours": []}
    for n in range(repeat):
        with synthetic_store(workdir / f"raw-{concurrency}-{n}", scenes) as raw_store:
            messages = same_messages(raw_store, opts)
        answers, wall, cpu = timed(
            lambda: asyncio.run(raw_client(server.base_url, messages, concurrency)))
        assert answers == len(messages)
        runs["raw"].append((wall, cpu))
        with synthetic_store(workdir / f"ours-{concurrency}-{n}", scenes) as ours_store:
            report, wall, cpu = timed(lambda: generate(ours_store, opts))
        assert report.generated == len(messages), report
        runs["ours"].append((wall, cpu))
    raw_wall, raw_cpu = (statistics.median(v) for v in zip(*runs["raw"]))
    ours_wall, ours_cpu = (statistics.median(v) for v in zip(*runs["ours"]))
    count = len(messages)
    note = (f"CPU {1000 * ours_cpu / count:.2f} ms per generated pair (ours) vs "
            f"{1000 * raw_cpu / count:.2f} ms per request (raw); median of {repeat}")
    return Result(f"generate {count} requests c={concurrency}", count / ours_wall,
                  count / raw_wall, "requests/s", TARGET, note=note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians shown")
    args = parser.parse_args()
    os.environ["SCENEGRAPH_BENCH_KEY"] = KEY
    print(f"generate: {args.requests} requests, one output each, server latency "
          f"{args.latency_ms:g} ms; medians of {args.repeat} runs, raw and ours in turn",
          flush=True)
    with ChatServer(latency_ms=args.latency_ms) as server, \
            tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        report([measure(server, concurrency, args.requests, Path(tmp), args.repeat)
                for concurrency in args.concurrency])


if __name__ == "__main__":
    main()

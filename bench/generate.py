"""Generation throughput: our `generate` vs the raw AsyncOpenAI client, same requests, same run.

A loopback chat-completions server (tests/chat_server.py, its own process) answers every request
after a fixed latency. For each concurrency, a fresh embedded store of synthetic scenes is planned
into 2,000 one-output requests; our `generate` runs them end to end (plan, journal, retries,
parsing, graph writes), and the raw client sends the very same messages with a semaphore and
nothing else. Reported (bench/_common.report, gathered by `make bench`): requests/s of each
(medians of ``--repeat`` runs taken in turn), the ratio ours / raw against the 0.85 target, and
CPU time per request (raw) and per generated pair (ours; this process, all threads: planning,
journal and graph writes included).

Across processes (``--processes N``, issue 18): 4,000 requests at c=256 through `generate
--processes N` against the raw client in one process (target 1.4: what the processes must add)
and in N processes sending a share each at c/N (target 0.85). The raw processes are started and
have imported everything before the clock starts; ours is timed end to end, worker start-up
included (the fork server starts once per benchmark process: its first run pays for it).

    .venv/bin/python bench/generate.py                       # 2,000 requests, c=16 and c=64
    .venv/bin/python bench/generate.py --requests 500 --concurrency 64
    .venv/bin/python bench/generate.py --concurrency --processes 2   # only across processes
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
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
TARGET_OVER_ONE = 1.4  # ours across processes / the raw client in one process
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


def options(base_url: str, concurrency: int, processes: int = 1) -> GenerateOptions:
    return GenerateOptions(provider="openai", base_url=base_url, model="bench", mode="one",
                           styles=STYLES, neighbours=0, concurrency=concurrency,
                           api_key_env="SCENEGRAPH_BENCH_KEY", json_mode=False,
                           processes=processes)


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


def raw_run(server: ChatServer, folder: Path, scenes: int, opts: GenerateOptions,
            concurrency: int) -> tuple[list, float, float]:
    """The messages ours would send for a fresh store's plan, and the raw client in this process
    sending them: (messages, wall seconds, CPU seconds)."""
    with synthetic_store(folder, scenes) as store:
        messages = same_messages(store, opts)
    answers, wall, cpu = timed(
        lambda: asyncio.run(raw_client(server.base_url, messages, concurrency)))
    assert answers == len(messages)
    return messages, wall, cpu


def raw_process(base_url: str, requests: list, concurrency: int, ready, go, answers) -> None:
    """One raw client process: say it is ready, wait for the start, send its share."""
    ready.release()
    go.wait()
    answers.put(asyncio.run(raw_client(base_url, requests, concurrency)))


def raw_processes(base_url: str, requests: list, concurrency: int, processes: int) -> float:
    """Seconds for ``processes`` raw clients, started beforehand, to send a share each."""
    context = multiprocessing.get_context("spawn")
    ready, go, answers = context.Semaphore(0), context.Event(), context.Queue()
    workers = [context.Process(target=raw_process, args=(
        base_url, requests[n::processes], concurrency // processes, ready, go, answers))
        for n in range(processes)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    started = time.perf_counter()
    go.set()
    received = sum(answers.get() for _ in workers)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    assert received == len(requests)
    return elapsed


def measure_processes(server: ChatServer, concurrency: int, requests: int, processes: int,
                      workdir: Path, repeat: int) -> list[Result]:
    """Ours across processes, the raw client in one process and in ``processes``, in turn."""
    scenes = requests // len(STYLES)
    opts = options(server.base_url, concurrency, processes)
    runs: dict[str, list[float]] = {"one": [], "many": [], "ours": []}
    for n in range(repeat):
        messages, wall, _ = raw_run(server, workdir / f"raw-p{processes}-{n}", scenes, opts,
                                    concurrency)
        runs["one"].append(wall)
        runs["many"].append(raw_processes(server.base_url, messages, concurrency, processes))
        with synthetic_store(workdir / f"ours-p{processes}-{n}", scenes) as ours_store:
            report, wall, _ = timed(lambda: generate(ours_store, opts))
        assert report.generated == len(messages) and report.processes == processes, report
        runs["ours"].append(wall)
    count = len(messages)
    one, many, ours = (count / statistics.median(runs[k]) for k in ("one", "many", "ours"))
    name = f"generate {count} requests c={concurrency} --processes {processes}"
    note = f"median of {repeat}"
    return [Result(f"{name} vs raw, 1 process", ours, one, "requests/s", TARGET_OVER_ONE,
                   note=note),
            Result(f"{name} vs raw, {processes} processes", ours, many, "requests/s", TARGET,
                   note=note)]


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
        messages, wall, cpu = raw_run(server, workdir / f"raw-{concurrency}-{n}", scenes, opts,
                                      concurrency)
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
    parser.add_argument("--concurrency", type=int, nargs="*", default=[16, 64])
    parser.add_argument("--processes", type=int, default=2,
                        help="worker processes of the multi-process scenario (0: skip it)")
    parser.add_argument("--process-requests", type=int, default=4000)
    parser.add_argument("--process-concurrency", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians shown")
    args = parser.parse_args()
    os.environ["SCENEGRAPH_BENCH_KEY"] = KEY
    print(f"generate: {args.requests} requests, one output each, server latency "
          f"{args.latency_ms:g} ms; medians of {args.repeat} runs, raw and ours in turn",
          flush=True)
    with ChatServer(latency_ms=args.latency_ms) as server, \
            tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        results = [measure(server, concurrency, args.requests, Path(tmp), args.repeat)
                   for concurrency in args.concurrency]
        if args.processes:
            results += measure_processes(server, args.process_concurrency,
                                         args.process_requests, args.processes, Path(tmp),
                                         args.repeat)
        report(results)


if __name__ == "__main__":
    main()

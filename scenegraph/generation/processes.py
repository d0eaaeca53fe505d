"""Generation across processes (``generate --processes N``): one Python process's client CPU
caps a live run (about 400–550 requests/s); N worker processes, each with its own client and
event loop, ask for a share of the requests while this process's writer stays the only one
that touches the journal and the graph, so exactly-once is the single-process mechanism.

A worker gets its share (round-robin over the requests), the options (its part of
``concurrency`` as its ceiling), the recipe and the environment, builds its provider, prompts,
retry policy and adaptive level, and runs ``Runner._ask_all`` as a one-process run does. It
sends its answers back over a pipe (item keys, not items: the parent holds those), with its
token counts, retries waiting and level for the progress line. Workers start from a fork
server that has already imported the asking code, never by forking this process (it holds
threads and a database).

A worker that stops before it is done (killed alone, crashed) stops the run with an error once
what arrived is journaled; the next run asks for the rest. Workers end with the run, and on
their own when this process dies (their end of the pipe reads end-of-file).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import traceback
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, cast

from ..errors import SceneGraphError
from ..graph.base import Store
from ..llm.base import Provider
from ..llm.providers import make_provider
from .journal import Journal
from .options import MIN_REQUESTS_PER_PROCESS, GenerateOptions, GenerateReport
from .plan import Item, Recipe, Subject
from .prompts import Prompts
from .run import QUEUED_REQUESTS, Outcome, Runner

Requests = list[tuple[Subject, list[Item]]]
Queue = asyncio.Queue[list[Outcome] | None]
Stats = tuple[int, int, int, int]  # prompt tokens, completion tokens, retrying, level
Answer = tuple[str, Any, str | None, dict[str, int], float]  # an Outcome by its item's key
SEND_REQUESTS = 256  # the most answered requests a worker sends in one message
STOP_S = 5.0  # how long a stopped worker has to exit before it is killed


def processes_for(options: GenerateOptions, provider: Provider, requests: int) -> int:
    """How many processes a run asks from: one for batch mode, a spend cap (one ``Budget``), the
    template provider (offline: nothing to gain) and a dry run; otherwise ``processes`` (one per
    CPU by default, each with at least ``MIN_REQUESTS_PER_PROCESS`` requests), never more
    than the requests or the concurrency."""
    if options.batch or options.max_cost_usd is not None or options.dry_run:
        return 1
    if not provider.reads_prompt:
        return 1
    wanted = options.processes
    if wanted is None:
        wanted = min(os.cpu_count() or 1, requests // MIN_REQUESTS_PER_PROCESS)
    return max(1, min(wanted, requests, options.concurrency))


@dataclass
class Job:
    """What a worker is given: everything it needs to ask for its share."""

    requests: Requests
    options: GenerateOptions
    recipe: Recipe
    environ: dict[str, str]  # the API key and endpoint variables as this process sees them


@dataclass
class Worker:
    process: BaseProcess
    conn: Connection
    items: dict[str, Item]
    stats: Stats = (0, 0, 0, 0)
    done: bool = field(default=False)

    async def receive(self) -> Any:
        """The worker's next message, waited for on the event loop; ``EOFError`` when the
        worker is gone."""
        if not self.conn.poll():
            loop = asyncio.get_running_loop()
            ready = loop.create_future()
            fd = self.conn.fileno()
            loop.add_reader(fd, _settle, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
        return self.conn.recv()

    def stop(self) -> None:
        """End the worker (if it has not ended) and reap it."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(STOP_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class ProcessRunner(Runner):
    """A live run whose asking is done by worker processes; the writer is the parent's."""

    def __init__(self, *args: Any, processes: int):
        super().__init__(*args)
        self.processes = self.report.processes = processes
        self.workers: list[Worker] = []

    async def _loop(self, requests: Requests) -> None:
        await self._writing(lambda queue: self._in_processes(requests, queue))

    async def _in_processes(self, requests: Requests, queue: Queue) -> None:
        context = _context(self.provider)
        try:
            for number in range(self.processes):
                share = requests[number :: self.processes]
                self.workers.append(self._start(context, number, share))
            await asyncio.gather(*(self._receive(worker, queue) for worker in self.workers))
        finally:
            for worker in self.workers:
                worker.stop()

    def _start(self, context: BaseContext, number: int, share: Requests) -> Worker:
        ceiling, extra = divmod(self.options.concurrency, self.processes)
        options = self.options.model_copy(
            update={"concurrency": ceiling + (number < extra), "processes": 1}
        )
        mine, theirs = context.Pipe()
        job = Job(share, options, self.recipe, dict(os.environ))
        process = context.Process(  # type: ignore[attr-defined]
            target=work, args=(theirs, job), name=f"scenegraph-generate-{number}", daemon=True
        )
        process.start()
        theirs.close()  # the worker's end lives in the worker: its death reads as end-of-file
        items = {item.key: item for _, group in share for item in group}
        return Worker(process, mine, items)

    async def _receive(self, worker: Worker, queue: Queue) -> None:
        """Forward a worker's answers to the writer until it is done, fails or dies."""
        while True:
            try:
                kind, payload, worker.stats = await worker.receive()
            except (EOFError, OSError):
                self._fail(await _gone(worker))
                return
            self._tally()
            if kind == "answers":
                await queue.put([_outcome(worker.items, answer) for answer in payload])
            elif kind == "failed":
                self._fail(payload)
                return
            else:
                return

    def _fail(self, error: BaseException) -> None:
        """The run stops: the first error is the run's; the other workers end now (what they
        have not sent is asked for by the next run)."""
        if self.fatal is None:
            self.fatal = error
            for worker in self.workers:
                if worker.process.is_alive():
                    worker.process.terminate()

    def _tally(self) -> None:
        prompt, completion, retrying, _ = (sum(column) for column in zip(*self._stats()))
        self.report.prompt_tokens, self.report.completion_tokens = prompt, completion
        self.retrying = retrying

    def _stats(self) -> list[Stats]:
        return [worker.stats for worker in self.workers]

    def _level(self) -> int:
        return sum(stats[3] for stats in self._stats())


def start_early(options: GenerateOptions, provider: Provider) -> None:
    """Start the fork server (and its import of this module) now if the run may use workers."""
    context = _context(provider)
    if (
        processes_for(options, provider, sys.maxsize) > 1
        and context.get_start_method() == "forkserver"
    ):
        forkserver.ensure_running()


def _context(provider: Provider) -> BaseContext:
    """A fork server that has imported this module and the provider's (workers start without
    importing anything: the client library alone takes a second), or spawn where there is
    none; never a fork of this process."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # '__main__' as by default: a script's own imports once, not in every worker.
    context.set_forkserver_preload(["__main__", __name__, type(provider).__module__])
    return context


def _settle(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _gone(worker: Worker) -> SceneGraphError:
    await asyncio.to_thread(worker.process.join, STOP_S)
    return SceneGraphError(
        f"generate: worker process {worker.process.pid} stopped before it was done (exit code "
        f"{worker.process.exitcode}); what it answered is journaled: run the same command again "
        "to do the rest"
    )


def _outcome(items: dict[str, Item], answer: Answer) -> Outcome:
    key, expression, reason, usage, latency_s = answer
    return Outcome(items[key], expression, reason, usage, latency_s)


# -- in the worker ------------------------------------------------------------------------


def work(conn: Connection, job: Job) -> None:
    """A worker process's life: ask for the share, send the answers, say how it ended."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it ends the workers
    os.environ.clear()  # a fork server's environment is the one it started with
    os.environ.update(job.environ)
    asyncio.run(_ask_share(conn, job))


async def _ask_share(conn: Connection, job: Job) -> None:
    loop = asyncio.get_running_loop()
    loop.add_reader(conn.fileno(), os._exit, 1)  # the parent sends nothing: readable = it died
    provider = make_provider(job.options.provider_config())
    recipe = job.recipe
    report = GenerateReport(
        provider=recipe.provider, model=recipe.model, template_hash=recipe.template_hash
    )
    # Only the asking half of a Runner runs here: the store and the journal are the parent's.
    asker = Runner(
        cast(Store, None),
        cast(Journal, None),
        provider,
        Prompts(job.options.templates),
        job.options,
        recipe,
        report,
        None,
    )
    queue: Queue = asyncio.Queue(QUEUED_REQUESTS)
    sending = asyncio.create_task(_send(conn, queue, asker))
    try:
        await asker._ask_all(job.requests, queue)
        await queue.put(None)
        await sending
    finally:
        sending.cancel()
        await provider.aclose()
    if asker.fatal is None:
        conn.send(("done", None, _stats_of(asker)))
    else:
        conn.send(("failed", _portable(asker.fatal), _stats_of(asker)))


async def _send(conn: Connection, queue: Queue, asker: Runner) -> None:
    """Send what has been answered, as it comes: what waits in the queue goes in one message."""
    finished = False
    while not finished:
        batch = [await queue.get()]
        while not queue.empty() and len(batch) < SEND_REQUESTS:
            batch.append(queue.get_nowait())
        finished = batch[-1] is None
        answers = [
            (o.item.key, o.expression, o.reason, o.usage, o.latency_s)
            for group in batch
            if group
            for o in group
        ]
        if answers:
            conn.send(("answers", answers, _stats_of(asker)))


def _stats_of(asker: Runner) -> Stats:
    report = asker.report
    return (report.prompt_tokens, report.completion_tokens, asker.retrying, asker.limit.level)


def _portable(error: BaseException) -> BaseException:
    """The run's error as the parent can raise it: scenegraph's own as they are (one line for
    the user), anything else (a bug) with the worker's traceback in its message."""
    if isinstance(error, SceneGraphError):
        return error
    trace = "".join(traceback.format_exception(error))
    return RuntimeError(f"in a generate worker process:\n{trace}")

"""Running a plan: a plain async loop — ``concurrency`` workers, a journal and one writer.

Each worker takes the next request (one subject, one or several slots), renders its prompt,
calls the provider with bounded retries (exponential backoff with jitter, never sooner than
``Retry-After``, a timeout per call), reads the answer tolerantly, re-asks once for whatever is
missing, and hands the outcomes to the writer. Calls in flight are held under an adaptive level
(``llm.concurrency``: ``concurrency`` is its ceiling) and, with ``max_cost_usd``, under a spend
cap (``llm.cost.Budget``): once the next call could pass it, the run asks for nothing more.

The writer journals outcomes as they come (write-ahead: an answer in the journal is never asked
for again) and writes the graph in large batches: upsert the expressions, supersede what they
replace, mark them stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..graph.base import Store
from ..graph.batch import GraphBatch
from ..graph.generation import existing_expressions, supersede
from ..llm.base import Ask, Completion, Provider
from ..llm.batch import BatchClient, make_batch_client
from ..llm.concurrency import AdaptiveConcurrency
from ..llm.cost import Budget, Price, TokenCounter, prompt_tokens, token_counter
from ..llm.journal import JOURNAL_FILE
from ..llm.parse import Parsed, parse_outputs
from ..llm.providers import make_provider
from ..llm.retry import GaveUp, Wait, call_with_retries, policy_of
from ..models import Expression
from .config import GenerationConfig, load_config
from .focus import read_focus
from .journal import Entry, Journal, Record
from .options import Estimate, Failure, GenerateOptions, GenerateProgress, GenerateReport
from .plan import Item, Plan, Recipe, Subject, build_plan, plan_slots
from .prompts import Prompts, template_names

log = logging.getLogger(__name__)
ProgressCallback = Callable[[GenerateProgress], None]
MAX_FAILURES_SHOWN = 20
FLUSH_S, FLUSH_ROWS = 0.5, 500  # journal what arrives within half a second, at most 500 rows
# Write the graph every 15 s or 20,000 expressions, and at the end (answers are journaled first,
# so nothing waits on this for safety): a graph transaction costs about as much for 1 row as for
# 1,000, and LadybugDB holds more memory after many small COPYs than after a few large ones.
GRAPH_S, GRAPH_ROWS = 15.0, 20_000
QUEUED_REQUESTS = 1_000  # answered requests waiting for the writer; workers wait beyond that


def generate(
    store: Store, options: GenerateOptions | None = None, progress: ProgressCallback | None = None
) -> GenerateReport:
    """Plan, skip what the journal has done, generate the rest, write it to the graph.

    ``options.dry_run`` only plans and estimates. Raises ``ConfigError`` for bad options (and
    for ``max_cost_usd`` without a price for the model) and ``ProviderError`` when the endpoint
    refuses every request (what was done stays done).
    """
    return asyncio.run(agenerate(store, options, progress))


async def agenerate(
    store: Store, options: GenerateOptions | None = None, progress: ProgressCallback | None = None
) -> GenerateReport:
    """``generate`` for callers already inside an event loop."""
    started = time.perf_counter()
    options = options or GenerateOptions()
    config = load_config(options.config)
    focus = read_focus(options.focus, store, config, options) if options.focus else None
    slots = focus.slots if focus else plan_slots(config, options)
    prompts = Prompts(options.templates)
    provider = make_provider(options.provider_config())
    batches = make_batch_client(provider) if options.batch else None
    _start_early(options, provider)
    price = price_of(config, provider, options)
    count = token_counter(provider.model)
    params = (
        {**provider.params(), "mode": options.mode, "per_request": options.per_request}
        if provider.reads_prompt
        else provider.params()
    )
    template_hash = prompts.hash(template_names(provider.reads_prompt))
    recipe = Recipe(provider.name, provider.model, template_hash, params)
    plan = build_plan(store, options, slots, recipe, focus)
    journal = Journal(store.data_dir / JOURNAL_FILE)
    try:
        triage = Triage.of(plan, journal, store)
        report = GenerateReport(
            provider=recipe.provider,
            model=recipe.model,
            template_hash=recipe.template_hash,
            dry_run=options.dry_run,
            planned=len(plan.items),
            already_done=len(triage.done),
            stale=triage.stale,
            pending=len(triage.todo) + len(triage.written),
            max_cost_usd=options.max_cost_usd,
            batch=options.batch,
            focus=focus.summary if focus else None,
        )
        requests = group_requests(triage.todo, options)
        report.requests = len(requests)
        if options.dry_run:
            report.estimate = estimate(requests, prompts, options, price, count)
        else:
            args = (store, journal, provider, prompts, options, recipe, report, progress)
            runner = _runner(args, batches, len(requests))
            await runner.priced(price, count).run(requests, triage.written)
    finally:
        journal.close()
        await provider.aclose()
    report.elapsed_s = time.perf_counter() - started
    return report


def _start_early(options: GenerateOptions, provider: Provider) -> None:
    """With ``processes`` given, workers' start-up (a fork server importing the asking code)
    overlaps planning."""
    if options.processes not in (None, 1) and not options.dry_run:
        from .processes import start_early

        start_early(options, provider)


def _runner(args: tuple, batches: BatchClient | None, requests: int) -> Runner:
    """A batch run, a live run across worker processes, or a live run in this one."""
    if batches is not None:
        from .batch_run import BatchRunner  # it builds on Runner

        return BatchRunner(*args, batches=batches)
    from .processes import ProcessRunner, processes_for  # it builds on Runner

    processes = processes_for(options=args[4], provider=args[2], requests=requests)
    return Runner(*args) if processes == 1 else ProcessRunner(*args, processes=processes)


def price_of(
    config: GenerationConfig, provider: Provider, options: GenerateOptions
) -> Price | None:
    """What the provider's model costs (at batch prices in batch mode): nothing to count for a
    provider that sends nothing (the template one); a spend cap needs the config to price the
    model (``ConfigError``)."""
    if not provider.reads_prompt:
        return None
    if options.max_cost_usd is not None:
        price: Price | None = config.price(provider.model)
    else:
        price = config.prices.get(provider.model)
    return price.batched() if price is not None and options.batch else price


# -- what is left to do -------------------------------------------------------------------


@dataclass
class Triage:
    done: list[Item]  # stored under this very key, and in the graph
    written: list[tuple[Item, Expression]]  # answered before a crash, not yet confirmed stored
    todo: list[Item]
    stale: int  # of todo: slots stored earlier under another key

    @classmethod
    def of(cls, plan: Plan, journal: Journal, store: Store) -> Triage:
        entries = journal.entries() if journal.exists() else {}
        done: list[Item] = []
        written: list[Item] = []
        todo: list[Item] = []
        by_status: dict[str | None, list[Item]] = {"stored": done, "generated": written}
        for item in plan.items:
            status = entries[item.key].status if item.key in entries else None
            by_status.get(status, todo).append(item)
        present = existing_expressions(
            store, (expr_id for i in done if (expr_id := entries[i.key].expression_id))
        )
        todo += [i for i in done if entries[i.key].expression_id not in present]
        done = [i for i in done if entries[i.key].expression_id in present]
        payloads = journal.payloads(i.key for i in written) if written else {}
        todo += [i for i in written if i.key not in payloads]
        ready = [(i, Expression(**payloads[i.key])) for i in written if i.key in payloads]
        return cls(done, ready, todo, stale_count(todo, entries))


def stale_count(todo: list[Item], entries: dict[str, Entry]) -> int:
    """Items whose slot the journal holds as stored under a different key."""
    stored: dict[str, set[str]] = {}
    for key, entry in entries.items():
        if entry.status == "stored":
            stored.setdefault(entry.slot, set()).add(key)
    return sum(1 for item in todo if stored.get(item.slot_id, set()) - {item.key})


def group_requests(items: list[Item], options: GenerateOptions) -> list[tuple[Subject, list[Item]]]:
    """Items of one subject together, ``per_request`` at a time (one at a time in 'one' mode)."""
    size = 1 if options.mode == "one" else options.per_request
    by_subject: dict[Subject, list[Item]] = {}
    for item in items:
        by_subject.setdefault(item.subject, []).append(item)
    return [
        (subject, group[start : start + size])
        for subject, group in by_subject.items()
        for start in range(0, len(group), size)
    ]


def estimate(
    requests: list[tuple[Subject, list[Item]]],
    prompts: Prompts,
    options: GenerateOptions,
    price: Price | None,
    count: TokenCounter,
) -> Estimate:
    """Tokens and cost of sending these requests (the model's tokenizer, or characters per
    token by script: ``llm.cost``; ``expected_output_tokens`` an output; no re-asks)."""
    prompt = sum(
        prompt_tokens(prompts.messages(subject, [i.slot for i in items]), count)
        for subject, items in requests
    )
    outputs = sum(len(items) for _, items in requests)
    completion = outputs * options.expected_output_tokens
    return Estimate(
        requests=len(requests),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=price.cost(prompt, completion) if price else None,
    )


# -- running ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one item came to: an expression, or a reason it has none."""

    item: Item
    expression: Expression | None = None
    reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    latency_s: float = 0.0
    request_key: str | None = None  # batch mode: the custom id whose result this is


class Runner:
    def __init__(
        self,
        store: Store,
        journal: Journal,
        provider: Provider,
        prompts: Prompts,
        options: GenerateOptions,
        recipe: Recipe,
        report: GenerateReport,
        progress: ProgressCallback | None,
    ):
        self.store, self.journal, self.provider, self.prompts = store, journal, provider, prompts
        self.options, self.recipe, self.report = options, recipe, report
        self.policy = policy_of(options)
        self.progress = progress
        self.retrying = 0
        self.answered = 0
        self.rng = random.Random()
        self.limit = AdaptiveConcurrency(options.concurrency)
        self.price: Price | None = None
        self.budget: Budget | None = None
        self.fatal: BaseException | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenegraph-writer")

    def priced(self, price: Price | None, count: TokenCounter) -> Runner:
        """Count this run's spend at ``price`` (tokens counted by ``count``), capped at the
        options' ``max_cost_usd``; without a price the run is free (the template provider)."""
        self.price = price
        if price is not None and self.options.max_cost_usd is not None:
            self.budget = Budget(self.options.max_cost_usd, price, count, self.options.max_tokens)
        return self

    async def run(
        self, requests: list[tuple[Subject, list[Item]]], written: list[tuple[Item, Expression]]
    ) -> None:
        self._notify("planned")
        try:
            if written:
                self._count(await self._in_thread(self._store_expressions, written))
                self.report.recovered = len(written)
                self._notify()
            await self._loop(requests)
        finally:
            self.executor.shutdown(wait=True)
            self.report.cost_usd = self._spent()
        if self.fatal is not None:
            raise self.fatal

    async def _loop(self, requests: list[tuple[Subject, list[Item]]]) -> None:
        await self._writing(lambda queue: self._ask_all(requests, queue))

    async def _ask_all(
        self, requests: list[tuple[Subject, list[Item]]], queue: asyncio.Queue[list[Outcome] | None]
    ) -> None:
        """``concurrency`` workers take requests from one iterator until it is empty or the
        run must stop; a worker starts its next request the moment one ends (its calls wait
        for a place under the adaptive level). Once the spend cap is reached, what remains is
        counted as left, not rendered or asked."""
        pending = iter(requests)

        async def worker() -> None:
            for subject, items in pending:
                if self.fatal is not None:
                    return
                if self.budget is not None and self.budget.closed:
                    self.report.left += len(items)
                    continue
                await self._request(subject, items, queue)

        await asyncio.gather(*(worker() for _ in range(self.options.concurrency)))

    async def _writing(
        self, produce: Callable[[asyncio.Queue[list[Outcome] | None]], Awaitable[None]]
    ) -> None:
        """Run ``produce`` (which puts outcomes on the queue) beside the writer."""
        # Bounded: a fast provider (the template one) would otherwise queue every answer of the
        # run in memory while the writer catches up (3 GB at 1,000,000 expressions).
        queue: asyncio.Queue[list[Outcome] | None] = asyncio.Queue(QUEUED_REQUESTS)

        async def feed() -> None:
            await produce(queue)
            await queue.put(None)  # the end marker

        feeding = asyncio.ensure_future(feed())
        writer = asyncio.create_task(self._writer(queue))
        writer.add_done_callback(lambda task: self._on_writer_done(task, feeding))
        try:
            await feeding
        except asyncio.CancelledError:
            if self.fatal is None:  # cancelled from outside, not by a failed writer
                raise
        await asyncio.gather(writer, return_exceptions=True)

    def _on_writer_done(self, task: asyncio.Task, feeding: asyncio.Future) -> None:
        """A failed writer stops the run: workers waiting for room in the queue are cancelled."""
        if not task.cancelled() and task.exception() is not None:
            self.fatal = self.fatal or task.exception()
            feeding.cancel()

    async def _request(
        self, subject: Subject, items: list[Item], queue: asyncio.Queue[list[Outcome] | None]
    ) -> None:
        try:
            outcomes = await self._outcomes(subject, items)
        except OverBudget:
            self.report.left += len(items)
            return
        except Exception as exc:  # ProviderError, a broken template, a bug: the run stops
            self.fatal = self.fatal or exc
            return
        await queue.put(outcomes)

    async def _outcomes(self, subject: Subject, items: list[Item]) -> list[Outcome]:
        """Ask for the items' slots; re-ask once for what is missing; one outcome per item."""
        slots = [item.slot for item in items]
        ask = self.prompts.ask(subject, slots, self.provider.reads_prompt)
        calls: list[Completion] = []
        try:
            parsed = await self._ask(subject, ask, calls)
            if parsed.missing:
                missing = [s for s in slots if s.key in parsed.missing]
                again = self.prompts.reask(
                    ask, calls[-1].text, subject, missing, parsed.problem or ""
                )
                try:
                    parsed = parsed.merge(await self._ask(subject, again, calls))
                except (GaveUp, OverBudget) as exc:
                    parsed.problem = f"{parsed.problem}; the re-ask failed: {exc}"
        except GaveUp as exc:
            parsed = Parsed(missing=ask.keys, problem=str(exc))
        usage = {
            "prompt_tokens": sum(c.prompt_tokens for c in calls),
            "completion_tokens": sum(c.completion_tokens for c in calls),
            "calls": len(calls),
            "outputs": len(items),
        }
        latency = sum(c.latency_s for c in calls)
        return [self._outcome(item, parsed, usage, latency) for item in items]

    async def _ask(self, subject: Subject, ask: Ask, calls: list[Completion]) -> Parsed:
        completion = await self._call(subject, ask)
        calls.append(completion)
        self.report.prompt_tokens += completion.prompt_tokens
        self.report.completion_tokens += completion.completion_tokens
        return parse_outputs(completion.text, ask.keys, completion.finish_reason)

    async def _call(self, subject: Subject, ask: Ask) -> Completion:
        """One call with its retries, under the adaptive level and the spend cap: it holds its
        worst case (the prompt's tokens and ``max_tokens`` of answer) until its usage is known.
        Raises ``OverBudget`` when that could pass the cap."""

        async def wait(seconds: float, problem: Exception) -> None:
            log.info(
                "retrying %s of %s in %.2f s: %s", ask.keys, subject.scene_ids, seconds, problem
            )
            await self._wait(seconds)

        if self.budget is None:
            return await self._retried(ask, wait)
        held = await self.budget.hold(ask.messages)
        if held is None:
            raise OverBudget(f"not sent: the spend cap (${self.budget.cap_usd:g}) was reached")
        used = (0, 0)
        try:
            completion = await self._retried(ask, wait)
            used = (completion.prompt_tokens, completion.completion_tokens)
            return completion
        finally:
            self.budget.settle(held, *used)

    async def _retried(self, ask: Ask, wait: Wait) -> Completion:
        return await call_with_retries(
            self.provider, ask, self.policy, self.rng, wait, limit=self.limit
        )

    async def _wait(self, seconds: float) -> None:
        self.retrying += 1
        self._notify()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.retrying -= 1

    def _outcome(
        self, item: Item, parsed: Parsed, usage: dict[str, int], latency_s: float
    ) -> Outcome:
        text = parsed.texts.get(item.slot.key)
        if text is None:
            return Outcome(
                item, reason=parsed.problem or "no answer", usage=usage, latency_s=latency_s
            )
        return Outcome(
            item, self._expression(item, text, usage, latency_s), usage=usage, latency_s=latency_s
        )

    def _expression(
        self, item: Item, text: str, usage: dict[str, int], latency_s: float
    ) -> Expression:
        names = item.slot.names()
        provenance = {
            "provider": self.recipe.provider,
            "model": self.recipe.model,
            "endpoint": self.provider.endpoint,
            "template_hash": self.recipe.template_hash,
            "params": self.recipe.params,
            "usage": usage,
            "latency_s": round(latency_s, 4),
            "time": _now(),
            "item_key": item.key,
        }
        props = {"passage": list(item.subject.scene_ids)} if item.subject.is_passage else {}
        return Expression(
            scene_ids=list(item.subject.scene_ids),
            text=text,
            form=names["form"],
            style=names["style"],
            register=names["register"],
            tone=names["tone"],
            target=names["target"],
            lang=item.subject.lang,
            provenance=provenance,
            props=props,
        )

    # -- the writer ---------------------------------------------------------------------

    async def _writer(self, queue: asyncio.Queue[list[Outcome] | None]) -> None:
        """Journal outcomes as they come (cheap, and enough to survive a crash: answers written
        ahead are stored by the next run without asking again); write the graph in large
        batches, because a graph transaction costs about as much for 1 row as for 1,000."""
        unstored: list[tuple[Item, Expression]] = []
        oldest = 0.0
        finished = False
        while not finished:
            outcomes, finished = await self._collect(queue, GRAPH_S if unstored else None)
            if outcomes:
                consumed = [o.request_key for o in outcomes if o.request_key]
                records = [self._record(o) for o in outcomes]
                await self._in_thread(self.journal.record, records, consumed)
                ready = [(o.item, o.expression) for o in outcomes if o.expression is not None]
                oldest = oldest if unstored else time.monotonic()
                unstored += ready
                self.answered += len(ready)
                self.report.failed += len(outcomes) - len(ready)
                self._collect_failures(outcomes)
            if unstored and (
                finished or len(unstored) >= GRAPH_ROWS or time.monotonic() - oldest >= GRAPH_S
            ):
                self._count(await self._in_thread(self._store_expressions, unstored))
                unstored = []
            self._notify()

    @staticmethod
    async def _collect(
        queue: asyncio.Queue[list[Outcome] | None], wait: float | None
    ) -> tuple[list[Outcome], bool]:
        """Outcomes arriving within ``FLUSH_S`` of the first (which is awaited at most ``wait``
        seconds), up to ``FLUSH_ROWS``; and whether the end marker came."""
        batch: list[list[Outcome] | None] = []
        try:
            async with asyncio.timeout(wait):
                batch.append(await queue.get())
            async with asyncio.timeout(FLUSH_S):
                rows = len(batch[0] or ())
                while batch[-1] is not None and rows < FLUSH_ROWS:
                    batch.append(await queue.get())
                    rows += len(batch[-1] or ())
        except TimeoutError:
            pass
        finished = bool(batch) and batch[-1] is None
        return [o for group in batch if group for o in group], finished

    def _in_thread(self, fn, *args):
        return asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _store_expressions(self, ready: list[tuple[Item, Expression]]) -> dict[str, int]:
        """Upsert the expressions, supersede what they replace, then mark them stored."""
        self.store.upsert(GraphBatch.of(expressions=[expr for _, expr in ready]))
        keys = {item.key for item, _ in ready}
        old = self.journal.replaced({item.slot_id for item, _ in ready}, keeping=keys)
        old_keys = {key for key, _ in old}
        retired = {expr for _, expr in old if expr} - {expr.id for _, expr in ready}
        retired -= self.journal.in_use(retired, besides=old_keys)
        if retired:
            supersede(self.store, retired)
        self.journal.mark(old_keys, "superseded")
        self.journal.mark(keys, "stored")
        return {"generated": len(ready), "superseded": len(retired)}

    def _record(self, outcome: Outcome) -> Record:
        item, expr = outcome.item, outcome.expression
        identity = {
            "scene_ids": list(item.subject.scene_ids),
            **item.slot.names(),
            "provider": self.recipe.provider,
            "model": self.recipe.model,
            "template_hash": self.recipe.template_hash,
            "params": self.recipe.params,
            "content_hash": item.subject.content_hash,
            "context_hash": item.subject.context_hash,
        }
        return Record(
            key=item.key,
            slot=item.slot_id,
            identity=identity,
            status="generated" if expr else "failed",
            expression_id=expr.id if expr else None,
            payload=expr.model_dump_json() if expr else None,
            reason=outcome.reason,
            prompt_tokens=outcome.usage.get("prompt_tokens", 0),
            completion_tokens=outcome.usage.get("completion_tokens", 0),
            latency_s=outcome.latency_s,
        )

    def _count(self, counts: dict[str, int]) -> None:
        for name, value in counts.items():
            setattr(self.report, name, getattr(self.report, name) + value)

    def _collect_failures(self, outcomes: Iterable[Outcome]) -> None:
        for o in outcomes:
            if o.expression is None and len(self.report.failures) < MAX_FAILURES_SHOWN:
                self.report.failures.append(
                    Failure(
                        scene_ids=list(o.item.subject.scene_ids),
                        slot=o.item.slot.key,
                        reason=o.reason or "",
                    )
                )

    def _notify(self, phase: str = "running") -> None:
        if self.progress is None:
            return
        r = self.report
        self.progress(
            GenerateProgress(
                phase=phase,
                total=r.pending,
                done=r.recovered + self.answered,
                failed=r.failed,
                retrying=self.retrying,
                tokens=r.prompt_tokens + r.completion_tokens,
                stale=r.stale,
                already_done=r.already_done,
                concurrency=self._level(),
                cost_usd=self._spent(),
                **self._progress_extra(),
            )
        )

    def _level(self) -> int:
        """Calls allowed in flight now (across worker processes: the sum of theirs)."""
        return self.limit.level

    def _progress_extra(self) -> dict[str, int]:
        """What a kind of run adds to its progress (batch mode: batches in flight)."""
        return {}

    def _spent(self) -> float | None:
        """This run's spend so far at the model's price (usage as the provider reported it)."""
        if self.price is None:
            return None
        return self.price.cost(self.report.prompt_tokens, self.report.completion_tokens)


class OverBudget(Exception):
    """The next call could pass the spend cap: it is not sent."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

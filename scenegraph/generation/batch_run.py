"""Batch mode (``generate --batch``): the plan's requests go through the provider's batch API,
and their answers through the same writer as a live run's (``run.Runner``).

Nothing is sent twice. Before a batch is created, it and its requests (custom id = the request
key, ``llm.batch.request_key``, with the item keys it asks for) are journaled and committed;
the server's id is journaled when it answers. A later run first *claims* the requests the
journal holds for the items still to do: answered ones are written at once, pending ones are
polled, and only the rest are sent. A batch journaled without a server id (the run stopped while
creating it) is looked up on the server (``BatchClient.find``) and adopted, or, once the server
shows it never created it, its requests are sent again. Requests that expired or failed on the
server's side go out again in a new batch (at most ``retries`` times a run); refused ones fail
like a live run's failures (a re-run retries them). ``collect`` sends nothing new.

Answers are read like a live run's; outputs missing from an answer are failures (no re-ask: it
would cost another round of hours). A result is journaled when the batch ends, and marked
consumed in the same transaction that journals its items.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from ..graph.base import Store
from ..llm.base import Ask, Completion, Rejected, Retryable
from ..llm.batch import UNDECIDED, BatchClient, BatchRequest, BatchResult, request_key
from ..llm.journal import JOURNAL_FILE, BatchRequestRow, BatchRow
from ..llm.parse import Parsed, parse_outputs
from .journal import Journal
from .options import BatchStatus
from .plan import Item, Subject
from .run import Outcome, Runner, group_requests

log = logging.getLogger(__name__)
Queue = asyncio.Queue[list[Outcome] | None]


@dataclass
class Request:
    """One request of this run: the items it asks for and, once rendered, its ask."""

    custom_id: str
    subject: Subject
    items: list[Item]
    ask: Ask | None = None
    sent: int = 0  # times this run sent it
    held_usd: float | None = None


class BatchRunner(Runner):
    def __init__(self, *args, batches: BatchClient):
        super().__init__(*args)
        self.batches = batches
        self.watching: dict[str, set[str]] = {}  # batch id -> custom ids this run waits for
        self.requests: dict[str, Request] = {}

    async def _loop(self, requests: list[tuple[Subject, list[Item]]]) -> None:
        try:
            await self._writing(lambda queue: self._batched(requests, queue))
        finally:
            await self.batches.aclose()

    async def _batched(self, requests: list[tuple[Subject, list[Item]]], queue: Queue) -> None:
        self.report.requests = 0  # counted as sent: claimed requests were sent by earlier runs
        try:
            fresh = await self._claim(requests, queue)
            if self.options.collect:
                self.report.left += sum(len(r.items) for r in fresh)
            else:
                await self._send(fresh, queue)
            while self.watching and self.fatal is None:
                self._notify()
                await asyncio.sleep(self.options.poll_s)
                await self._poll(queue)
        except Exception as exc:  # ProviderError, a broken template, a bug: the run stops
            self.fatal = self.fatal or exc

    # -- what the journal holds ---------------------------------------------------------

    async def _claim(
        self, requests: list[tuple[Subject, list[Item]]], queue: Queue
    ) -> list[Request]:
        """Take over the requests the journal holds for these items (writing the answered
        ones); the rest, grouped afresh, are to be sent."""
        items = {item.key: item for _, group in requests for item in group}
        held: dict[str, BatchRequestRow] = {}
        for row in await self._in_thread(self.journal.held_requests):
            if all(key in items for key in row.item_keys):
                held[row.custom_id] = row  # the newest row of a custom id wins
        claimed: set[str] = set()
        answered: list[tuple[Request, BatchResult]] = []
        for row in held.values():
            if claimed.intersection(row.item_keys):
                continue
            claimed.update(row.item_keys)
            group = [items[key] for key in row.item_keys]
            request = Request(row.custom_id, group[0].subject, group)
            self.requests[row.custom_id] = request
            if row.state == "pending":
                self.watching.setdefault(row.batch_id, set()).add(row.custom_id)
                if self.budget is not None:  # it will be billed: what is sent next fits beside
                    request.held_usd = self.budget.commit(self._render(request).messages)
            else:
                answered.append((request, stored_result(row)))
        await self._deliver(answered, queue)
        rest = [item for item in items.values() if item.key not in claimed]
        return [
            Request(request_key([i.key for i in group]), subject, group)
            for subject, group in group_requests(rest, self.options)
        ]

    # -- sending ------------------------------------------------------------------------

    async def _send(self, requests: list[Request], queue: Queue) -> None:
        """Send ``requests`` in batches of ``batch_size``, each journaled before it is sent;
        under a spend cap, only those whose worst case fits (the rest are left)."""
        ready = [r for r in requests if self._hold(r)]
        self.report.left += sum(len(r.items) for r in requests if r.held_usd is None)
        size = self.options.batch_size
        for start in range(0, len(ready), size):
            await self._submit(ready[start : start + size], queue)

    def _hold(self, request: Request) -> bool:
        ask = self._render(request)
        if self.budget is None:
            request.held_usd = 0.0
            return True
        request.held_usd = self.budget.try_hold(ask.messages)
        return request.held_usd is not None

    def _render(self, request: Request) -> Ask:
        if request.ask is None:
            slots = [item.slot for item in request.items]
            request.ask = self.prompts.ask(request.subject, slots, self.provider.reads_prompt)
        return request.ask

    async def _submit(self, requests: list[Request], queue: Queue) -> None:
        batch_id = f"sgb-{uuid.uuid4().hex[:20]}"
        journaled = [(r.custom_id, [i.key for i in r.items]) for r in requests]
        await self._in_thread(
            self.journal.open_batch, batch_id, self.provider.name, self.provider.model, journaled
        )
        for r in requests:
            self.requests[r.custom_id] = r
            r.sent += 1
        self.report.batches += 1
        self.report.requests += len(requests)
        self.report.resubmitted += sum(1 for r in requests if r.sent > 1)
        sending = [BatchRequest(r.custom_id, r.ask) for r in requests if r.ask is not None]
        try:
            remote_id = await self.batches.submit(batch_id, sending)
        except Retryable as exc:  # the server may have created it: the next poll looks
            log.warning("creating batch %s: %s; looking it up on the next poll", batch_id, exc)
            self.watching[batch_id] = {r.custom_id for r in requests}
            return
        except Rejected as exc:
            await self._in_thread(self.journal.batch_sent, batch_id, None)
            failed = [(r, BatchResult(r.custom_id, error=str(exc))) for r in requests]
            await self._deliver(failed, queue)
            return
        await self._in_thread(self.journal.batch_sent, batch_id, remote_id)
        self.watching[batch_id] = {r.custom_id for r in requests}

    # -- polling ------------------------------------------------------------------------

    async def _poll(self, queue: Queue) -> None:
        """Look at every batch waited for once; collect those that ended; send again what
        expired or failed on the server's side."""
        rows = {row.id: row for row in await self._in_thread(self.journal.batches)}
        again: list[Request] = []
        for batch_id in list(self.watching):
            try:
                again += await self._look(rows[batch_id], rows, queue)
            except Retryable as exc:
                log.warning("batch %s: %s; trying again on the next poll", batch_id, exc)
        if again and not self.options.collect:
            await self._send(again, queue)

    async def _look(self, row: BatchRow, rows: dict[str, BatchRow], queue: Queue) -> list[Request]:
        remote_id = row.remote_id
        if remote_id is None:
            custom_ids = await self._in_thread(self.journal.requests_of, row.id)
            known = {r.remote_id for r in rows.values() if r.remote_id}
            since = datetime.fromisoformat(row.created_at)
            found = await self.batches.find(row.id, since, custom_ids, known)
            if found is UNDECIDED:
                return []
            await self._in_thread(self.journal.batch_sent, row.id, found)
            if not isinstance(found, str):  # never created: its requests go out again
                return [self.requests[cid] for cid in self.watching.pop(row.id)]
            remote_id = found
        progress = await self.batches.progress(remote_id)
        if not progress.ended:
            return []
        custom_ids = await self._in_thread(self.journal.requests_of, row.id)
        results = await self.batches.results(remote_id, custom_ids)
        await self._in_thread(self.journal.batch_ended, row.id, [r.journal_row() for r in results])
        waited = self.watching.pop(row.id)
        again, done = [], []
        for result in results:
            if result.custom_id not in waited:
                continue
            request = self.requests[result.custom_id]
            if result.retry and not self.options.collect and request.sent <= self.options.retries:
                if self.budget is not None and request.held_usd is not None:
                    self.budget.settle(request.held_usd, 0, 0)  # held again when sent again
                    request.held_usd = None
                again.append(request)
            else:
                done.append((request, result))
        await self._deliver(done, queue)
        return again

    # -- results ------------------------------------------------------------------------

    async def _deliver(self, results: list[tuple[Request, BatchResult]], queue: Queue) -> None:
        """The items' outcomes of these results, to the writer."""
        for request, result in results:
            await queue.put(self._outcomes_of(request, result))

    def _outcomes_of(self, request: Request, result: BatchResult) -> list[Outcome]:
        keys = [item.slot.key for item in request.items]
        completion = result.completion
        if completion is None:
            parsed = Parsed(missing=keys, problem=self._why(result))
            used = (0, 0)
        else:
            parsed = parse_outputs(completion.text, keys, completion.finish_reason)
            used = (completion.prompt_tokens, completion.completion_tokens)
            self.report.prompt_tokens += used[0]
            self.report.completion_tokens += used[1]
        if self.budget is not None:  # answers an earlier run received count too: they held nothing
            self.budget.settle(request.held_usd, *used)
            request.held_usd = None
        usage = {
            "prompt_tokens": used[0],
            "completion_tokens": used[1],
            "calls": 1 if completion else 0,
            "outputs": len(request.items),
        }
        outcomes = [self._outcome(item, parsed, usage, 0.0) for item in request.items]
        for outcome in outcomes:
            outcome.request_key = request.custom_id
        return outcomes

    def _why(self, result: BatchResult) -> str:
        if result.retry and self.options.collect:
            return f"{result.error}; run `generate --batch` to send it again"
        return result.error or "no answer"

    def _progress_extra(self) -> dict[str, int]:
        return {
            "batches": len(self.watching),
            "waiting": sum(len(ids) for ids in self.watching.values()),
        }


def stored_result(row: BatchRequestRow) -> BatchResult:
    """The result the journal holds for an answered or errored request."""
    if row.payload is None:
        return BatchResult(row.custom_id, error=row.reason or "no answer")
    return BatchResult(row.custom_id, Completion(**row.payload, latency_s=0.0))


def batch_status(store: Store) -> list[BatchStatus]:
    """Every batch the store's journal holds, oldest first, with its counts."""
    journal = Journal(store.data_dir / JOURNAL_FILE)
    if not journal.exists():
        return []
    try:
        rows = journal.batches()
    finally:
        journal.close()
    return [
        BatchStatus(
            id=row.id,
            remote_id=row.remote_id,
            provider=row.provider,
            model=row.model,
            state=row.state,
            submitted=row.requests,
            done=row.succeeded,
            failed=row.errored + row.expired,
            pending=0 if row.state in ("ended", "lost") else row.requests,
            created_at=row.created_at,
        )
        for row in rows
    ]

"""Anthropic's Message Batches: ``messages.batches.create`` with one ``{"custom_id", "params"}``
per request (``params`` the body ``AnthropicProvider.complete`` sends), ``retrieve`` for its
status and ``results`` for its answers once it has ended.

The API keeps no metadata on a batch, so a batch whose creation a killed run could not confirm
is found by what it holds: among the server's batches created since it was journaled, not yet
journaled, with as many requests, the one whose results carry exactly its custom ids. Results
exist only once a batch has ended; until then such a candidate leaves the answer ``UNDECIDED``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anthropic

from .anthropic_messages import AnthropicProvider, answer_text, finish_reason, input_tokens
from .base import Completion
from .batch import (
    CLOCK_SLACK,
    UNDECIDED,
    BatchClient,
    BatchProgress,
    BatchRequest,
    BatchResult,
    Undecided,
    missing_results,
)

RETRY_ERRORS = {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}


class AnthropicBatch(BatchClient[AnthropicProvider]):
    endpoint_name = "Anthropic Message Batches"

    def requests(self, requests: list[BatchRequest]) -> list[dict[str, Any]]:
        body = self.provider.body
        return [{"custom_id": r.custom_id, "params": body(r.ask)} for r in requests]

    async def submit(self, batch_id: str, requests: list[BatchRequest]) -> str:
        try:
            batch = await self.provider._connect().messages.batches.create(
                requests=self.requests(requests)  # type: ignore[arg-type]  # plain dicts
            )
        except anthropic.AnthropicError as exc:
            raise self.provider._translate(exc) from None
        return batch.id

    async def find(
        self, batch_id: str, since: datetime, custom_ids: set[str], known: set[str]
    ) -> str | Undecided | None:
        oldest = since - CLOCK_SLACK
        undecided = False
        try:
            async for batch in self.provider._connect().messages.batches.list(limit=100):
                if batch.created_at < oldest:
                    break
                counts = batch.request_counts
                total = sum(counts.model_dump().values())
                if batch.id in known or total != len(custom_ids):
                    continue
                if batch.processing_status != "ended":
                    undecided = True
                elif await self._custom_ids(batch.id) == custom_ids:
                    return batch.id
        except anthropic.AnthropicError as exc:
            raise self.provider._translate(exc) from None
        return UNDECIDED if undecided else None

    async def _custom_ids(self, remote_id: str) -> set[str]:
        results = await self.provider._connect().messages.batches.results(remote_id)
        return {line.custom_id async for line in results}

    async def progress(self, remote_id: str) -> BatchProgress:
        try:
            batch = await self.provider._connect().messages.batches.retrieve(remote_id)
        except anthropic.AnthropicError as exc:
            raise self.provider._translate(exc) from None
        c = batch.request_counts
        return BatchProgress(
            status=batch.processing_status,
            ended=batch.processing_status == "ended",
            done=c.succeeded,
            failed=c.errored + c.expired + c.canceled,
            total=c.succeeded + c.errored + c.expired + c.canceled + c.processing,
        )

    async def results(self, remote_id: str, custom_ids: set[str]) -> list[BatchResult]:
        try:
            lines = await self.provider._connect().messages.batches.results(remote_id)
            results = [result_of(line.custom_id, line.result) async for line in lines]
        except anthropic.AnthropicError as exc:
            raise self.provider._translate(exc) from None
        seen = {r.custom_id for r in results}
        return [r for r in results if r.custom_id in custom_ids] + missing_results(
            custom_ids, seen, f"batch {remote_id} ended without answering it"
        )


def result_of(custom_id: str, result: Any) -> BatchResult:
    """One line of a batch's results (succeeded, errored, canceled or expired)."""
    if result.type == "succeeded":
        message = result.message
        usage = message.usage
        return BatchResult(
            custom_id,
            Completion(
                text=answer_text(message),
                finish_reason=finish_reason(message.stop_reason),
                prompt_tokens=input_tokens(usage) if usage else 0,
                completion_tokens=usage.output_tokens if usage else 0,
                latency_s=0.0,
            ),
        )
    if result.type == "errored":
        error = result.error.error
        return BatchResult(
            custom_id, error=f"{error.type}: {error.message}", retry=error.type in RETRY_ERRORS
        )
    return BatchResult(custom_id, error=f"the request was {result.type}", retry=True)

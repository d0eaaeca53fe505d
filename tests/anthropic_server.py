"""A real Anthropic Messages API server on loopback, with switchable faults, for tests.

It is the chat server (``chat_server.py``) speaking Anthropic: the same child process, the same
``/_control`` fault plans and ``/_log`` request log, the same deterministic sentences; only the
endpoint, the auth headers, the error shapes and the fault kinds differ::

    with AnthropicServer(require_key="sk-ant-test") as server:
        client = AsyncAnthropic(base_url=server.base_url, api_key="sk-ant-test", max_retries=0)
        server.set_faults(rate=0.2, kinds=("429", "529"))
        ...
        server.log()   # every request: headers, JSON body, fault applied, status, usage

``POST /v1/messages`` answers from the last user message: when its ``KEYS: [...]`` line names
keys and the request forces a tool (``tool_choice: {"type": "tool"}``), with one ``tool_use``
block whose input is ``{"outputs": [{"key", "text"}, ...]}``; otherwise with a text block (the
same JSON as text, or one sentence). ``usage`` counts about four characters a token, and each log
entry keeps the usage it answered. As the API version that the 2.x SDK sends does, it refuses
``temperature``, ``top_p`` and ``top_k``, a ``system`` role among the messages, and empty turns.

Message Batches: ``POST /v1/messages/batches`` (kept the moment it arrives, answered after the
batch plan's ``create_s``), ``GET /v1/messages/batches`` (newest first), ``GET
/v1/messages/batches/{id}`` and ``GET /v1/messages/batches/{id}/results`` (JSONL), with the chat
server's lifecycle (``set_batches``): in_progress → ended, an expiring batch leaving part of its
requests ``expired``. Each request is answered as ``/v1/messages`` would answer it, faults
included (an HTTP error becomes an ``errored`` result). ``batches()`` counts every custom id
submitted.
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, timedelta
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from chat_server import (
    READY_PREFIX,
    Batch,
    ChatServer,
    ChatServerApp,
    FaultPlan,
    RequestRejected,
    chat_content,
    cut_in_half,
    estimate_tokens,
    json_response,
    keyed_answer,
    message_text,
    miscount,
    parse_args,
    parse_keys,
    stop_on_stdin_eof,
)

FAULT_KINDS = ("429", "529", "500", "400", "timeout", "malformed", "truncated", "empty",
               "wrong_count")
"""``429`` (rate limit), ``529`` (overloaded), ``500``, ``400`` (invalid request): HTTP errors, the
first two with ``retry-after``; ``timeout``: answer normally after ``hang_s``; ``malformed``: no
tool call but a text block of JSON cut in the middle plus garbage (a model or gateway ignoring the
tool); ``truncated``: the first half of the outputs, ``stop_reason`` ``max_tokens``; ``empty``: no
content blocks at all; ``wrong_count``: one output missing or one unknown key added."""
_GARBAGE = " <<~~#garbled tail ~~>> @@"
_SAMPLING = ("temperature", "top_p", "top_k")
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An Anthropic-style error: ``{"type": "error", "error": {"type", "message"}}``."""
    error = {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}
    return json_response({"type": "error", "error": error}, status, headers)


def invalid(message: str) -> RequestRejected:
    """A 400 ``invalid_request_error``."""
    return RequestRejected(error_response(400, message))


@dataclass(frozen=True)
class MessagesFaultPlan(FaultPlan):
    """The chat server's plan, with this server's fault kinds."""

    def validate(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {self.rate}")
        if not self.kinds or not set(self.kinds) <= set(FAULT_KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {list(FAULT_KINDS)}")
        if min(self.retry_after_s, self.hang_s, self.fail_first) < 0:
            raise ValueError("retry_after_s, hang_s and fail_first must not be negative")


def forced_tool(body: dict[str, Any]) -> str | None:
    """The name of the tool the request forces, when it forces one it defines."""
    choice = body.get("tool_choice") or {}
    names = {tool.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)}
    if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") in names:
        return str(choice["name"])
    return None


def tool_content(tool: str, block_id: str, prompt: str, keys: list[str], fault: str | None,
                 rng: Any) -> tuple[list[dict[str, Any]], str]:
    """``(content blocks, stop_reason)`` answering ``keys`` through ``tool``, spoiled as
    ``fault`` says."""
    if fault == "wrong_count":
        keys = miscount(keys, rng)
    answer = orjson.loads(keyed_answer(prompt, keys))
    if fault == "malformed":
        text = cut_in_half(orjson.dumps(answer).decode()) + _GARBAGE
        return [{"type": "text", "text": text}], "end_turn"
    if fault == "empty":
        return [], "end_turn"
    stop = "tool_use"
    if fault == "truncated":
        answer["outputs"] = answer["outputs"][: len(keys) // 2]
        stop = "max_tokens"
    return [{"type": "tool_use", "id": block_id, "name": tool, "input": answer}], stop


def text_content(prompt: str, fault: str | None, rng: Any) -> tuple[list[dict[str, Any]], str]:
    """``(content blocks, stop_reason)`` of a text answer (the chat server's content)."""
    text, finish = chat_content(prompt, fault, rng)
    return ([{"type": "text", "text": text}] if text else []), (
        "max_tokens" if finish == "length" else "end_turn")


class MessagesApp(ChatServerApp):
    """The chat server's request handling and state, serving ``POST /v1/messages``."""

    plan_class = MessagesFaultPlan

    def __init__(self, latency_ms: float, seed: int, require_key: str | None) -> None:
        super().__init__(latency_ms, seed, require_key, embedding_dim=1)
        self.require_key = require_key
        self._ids = itertools.count(1)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/messages", self._logged(self.messages), methods=["POST"]),
            Route("/v1/messages/batches", self._logged(self.create_batch), methods=["POST"]),
            Route("/v1/messages/batches", self._logged(self.list_batches), methods=["GET"]),
            Route("/v1/messages/batches/{batch_id}", self._logged(self.get_batch),
                  methods=["GET"]),
            Route("/v1/messages/batches/{batch_id}/results", self._logged(self.batch_results),
                  methods=["GET"]),
            *self.control_routes(),
        ]

    def _authorise(self, headers: dict[str, str]) -> None:
        """401 unless the key came as ``x-api-key`` or as a bearer token (the 2.x SDK's way)."""
        if self.require_key is None:
            return
        if self.require_key not in (headers.get("x-api-key"),
                                    headers.get("authorization", "").removeprefix("Bearer ")):
            raise RequestRejected(error_response(401, "invalid x-api-key"))

    def bad_request(self, message: str) -> Response:
        return error_response(400, message)

    async def messages(self, body: dict[str, Any], entry: dict[str, Any]) -> Response:
        """``POST /v1/messages``."""
        turns = self._validate(body)
        fault = entry["fault"] = self.injector.next_fault()
        await self._wait(self.latency_s)
        if fault == "timeout":
            await self._wait(self.injector.plan.hang_s)
        status, payload = self._reply(body, turns, fault)
        if status != 200:
            wait = {"retry-after": f"{self.injector.plan.retry_after_s:g}"}
            return json_response(payload, status, wait if status in (429, 529) else None)
        entry["usage"] = payload["usage"]
        return json_response(payload)

    def _reply(self, body: dict[str, Any], turns: list[dict[str, Any]],
               fault: str | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, the message or error body) answering a request, spoiled by ``fault``."""
        errors = {"429": "Number of requests has exceeded your rate limit.", "529": "Overloaded",
                  "500": "Internal server error",
                  "400": "messages: the request was refused (injected fault)"}
        if fault in errors:
            status = int(fault)
            error = {"type": _ERROR_TYPES.get(status, "api_error"), "message": errors[fault]}
            return status, {"type": "error", "error": error}
        prompt = next((message_text(t) for t in reversed(turns) if t["role"] == "user"), "")
        keys, tool = parse_keys(prompt), forced_tool(body)
        number = next(self._ids)
        if tool and keys is not None:
            content, stop = tool_content(tool, f"toolu_{number:012d}", prompt, keys, fault,
                                         self.injector.rng)
        else:
            content, stop = text_content(prompt, fault, self.injector.rng)
        usage = {  # the system field is a string or a list of text blocks, as a turn's content
            "input_tokens": sum(estimate_tokens(message_text(t))
                                for t in [{"content": body.get("system")}, *turns]),
            "output_tokens": estimate_tokens(orjson.dumps(content).decode()),
        }
        return 200, {
            "id": f"msg_{number:012d}", "type": "message", "role": "assistant",
            "model": body.get("model"), "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": usage,
        }

    # -- Message Batches ----------------------------------------------------------------

    async def create_batch(self, body: dict[str, Any], entry: dict[str, Any]) -> Response:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise invalid("requests: a non-empty list is required")
        ids = [r.get("custom_id") for r in requests]
        if len(set(ids)) != len(ids):
            raise invalid("requests: custom_id must be unique within a batch")
        for r in requests:
            self._validate(r.get("params") or {})
        batch = self.book.add("msgbatch_", [(r["custom_id"], r["params"]) for r in requests],
                              {"base": entry["base"]})
        await self._wait(self.book.plan.create_s)
        return json_response(self._batch(batch))

    async def get_batch(self, body: Any, entry: dict[str, Any]) -> Response:
        batch = self.book.batches.get(entry["params"]["batch_id"])
        if batch is None:
            return error_response(404, "batch not found")
        return json_response(self._batch(batch))

    async def list_batches(self, body: Any, entry: dict[str, Any]) -> Response:
        batches = sorted(self.book.batches.values(), key=lambda b: b.id, reverse=True)
        after = entry["query"].get("after_id")
        if after:
            batches = [b for b in batches if b.id < after]
        limit = int(entry["query"].get("limit", 20))
        page = batches[:limit]
        return json_response({"data": [self._batch(b) for b in page],
                              "has_more": len(batches) > limit,
                              "first_id": page[0].id if page else None,
                              "last_id": page[-1].id if page else None})

    async def batch_results(self, body: Any, entry: dict[str, Any]) -> Response:
        batch = self.book.batches.get(entry["params"]["batch_id"])
        if batch is None or self.book.stage(batch) != "ended":
            return error_response(404, "no results: the batch has not ended")
        lines = [orjson.dumps({"custom_id": cid, "result": result})
                 for cid, result in self._results(batch)]
        return Response(b"\n".join(lines) + b"\n", media_type="application/binary")

    def _results(self, batch: Batch) -> list[tuple[str, dict[str, Any]]]:
        return [(cid, r or {"type": "expired"})
                for cid, r in self.book.results(batch, self._batch_answer)]

    def _batch_answer(self, params: dict[str, Any]) -> dict[str, Any]:
        status, payload = self._reply(params, params["messages"], self.injector.next_fault())
        if status == 200:
            return {"type": "succeeded", "message": payload}
        return {"type": "errored", "error": payload}

    def _batch(self, batch: Batch) -> dict[str, Any]:
        ended = self.book.stage(batch) == "ended"
        counts = {"processing": 0 if ended else len(batch.requests), "succeeded": 0,
                  "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for _, result in self._results(batch):
                counts[result["type"]] += 1
        created = datetime.fromtimestamp(batch.created, UTC)
        return {
            "id": batch.id, "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts, "created_at": created.isoformat(),
            "expires_at": (created + timedelta(days=1)).isoformat(),
            "ended_at": created.isoformat() if ended else None,
            "archived_at": None, "cancel_initiated_at": None,
            "results_url": (f"{batch.meta['base']}/v1/messages/batches/{batch.id}/results"
                            if ended else None),
        }

    @staticmethod
    def _validate(body: dict[str, Any]) -> list[dict[str, Any]]:
        """The turns of a well-formed request; raises a 400 as the API does otherwise."""
        if not isinstance(body.get("max_tokens"), int):
            raise invalid("max_tokens: Field required")
        for name in _SAMPLING:
            if name in body:
                raise invalid(f"{name}: Extra inputs are not permitted")
        turns = body.get("messages")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
            raise invalid("messages: a non-empty list of message objects is required")
        for i, turn in enumerate(turns):
            if turn.get("role") not in ("user", "assistant"):
                raise invalid(f"messages.{i}.role: must be 'user' or 'assistant' (system is a "
                              "top-level field)")
            if not message_text(turn):
                raise invalid(f"messages.{i}: text content blocks must be non-empty")
        return turns


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    state = MessagesApp(args.latency_ms, args.seed, args.require_key)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(256)
    config = uvicorn.Config(Starlette(routes=state.routes()), workers=1, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    if args.exit_on_stdin_eof:
        stop_on_stdin_eof(server)
    # The SDK appends /v1/messages to its base URL, so the base URL has no /v1.
    print(f"{READY_PREFIX}http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after shutting down
        server.run(sockets=[sock])


class AnthropicServer(ChatServer):
    """Runs the server above in a child process, as ``ChatServer`` runs the chat server."""

    def _command(self) -> list[str]:
        command = [sys.executable, str(Path(__file__).resolve()), "--port", "0",
                   "--latency-ms", str(self.latency_ms), "--seed", str(self.seed),
                   "--exit-on-stdin-eof"]
        if self.require_key is not None:
            command += ["--require-key", self.require_key]
        return command

    def messages(self) -> list[dict[str, Any]]:
        """The log entries of ``POST /v1/messages``, in the order they came."""
        return [e for e in self.log() if e["path"] == "/v1/messages"]


if __name__ == "__main__":
    main()

"""The ``anthropic`` provider: Claude through the Messages API and the official ``AsyncAnthropic``
client (or a gateway that speaks the same API, with ``base_url``).

The many-outputs answer is asked for with **tool use**: one tool, ``record_outputs``, whose
input schema is the KEYS protocol's ``{"outputs": [{"key", "text"}]}`` with the keys as an enum,
and ``tool_choice`` forcing it. The API hands back the tool input already decoded as a JSON
object, so no answer is lost to a stray fence, a sentence before the JSON or a missing brace,
and the model sees the exact keys it must fill. A prefilled assistant turn ``{`` was the other
way; it was not taken because the answer would still be free text (the model may close the
object early or add prose after it), and because newer Claude models refuse a prefilled last
assistant turn altogether. The tool input is turned back into JSON text, so the rest of the
pipeline (``parse.parse_outputs``, the re-ask, the journal) sees what it sees from ``openai``.
With ``json_mode`` off (a gateway without tools) the request carries no tool and the answer is
the model's text, which ``parse`` reads tolerantly.

Forcing a tool is refused by models that think by default (the API does not allow thinking
with a forced ``tool_choice``); for those, ``--no-json-mode`` asks for the text answer instead.

The system messages go into the top-level ``system`` field. No sampling parameter is sent: the
API version that the 2.x SDK speaks refuses ``temperature``, ``top_p`` and ``top_k`` (with a
400, even at their defaults), so ``--temperature`` does not apply here and is not in ``params``.
The client's own retries are off: ``retry.call_with_retries`` retries with its own backoff and
honours ``retry-after``. Errors are translated by HTTP status into the three outcomes of
``base``: 429, 529 (overloaded), 408, 409 and 5xx, timeouts and dropped connections may succeed
later; 401, 402, 403 and 404 stop the run; any other 4xx rejects this request. The API key is
scrubbed from every message that leaves this module.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, cast

import anthropic

from ..errors import ProviderError
from .base import Ask, Completion, Messages, Rejected, Retryable
from .http import RemoteProvider, retry_after

if TYPE_CHECKING:
    from anthropic.types import Message, MessageParam, ToolParam

DEFAULT_HOST = "api.anthropic.com"
TOOL_NAME = "record_outputs"

RETRYABLE_STATUS = {408, 409, 429}  # and every 5xx, 529 (overloaded) included
FATAL_STATUS = {
    401: "the endpoint refused the API key: check {env}",
    402: "the account behind {env} cannot pay for requests: check its billing",
    403: "the API key may not use this model or endpoint ({env})",
    404: "model or endpoint not found: check --base-url and --model",
}


class AnthropicProvider(RemoteProvider[anthropic.AsyncAnthropic]):
    name = "anthropic"
    default_host = DEFAULT_HOST
    client_class = anthropic.AsyncAnthropic

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        key_env: str,
        base_url: str | None = None,
        max_tokens: int = 1024,
        json_mode: bool = True,
        timeout_s: float = 60.0,
    ):
        # json_mode True: the forced tool; False: a plain text answer
        settings = {"max_tokens": max_tokens, "json_mode": json_mode}
        super().__init__(
            model=model,
            api_key=api_key,
            key_env=key_env,
            base_url=base_url,
            timeout_s=timeout_s,
            settings=settings,
        )

    def body(self, ask: Ask) -> dict[str, Any]:
        """The Messages API request for ``ask``: what ``complete`` sends, and the ``params`` of
        each request of a batch (``anthropic_batch``)."""
        system, messages = split_system(ask.messages)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self._settings["max_tokens"],
        }
        if system:
            body["system"] = system
        if self._settings["json_mode"]:  # the forced tool
            body["tools"] = [outputs_tool(ask.keys)]
            body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return body

    async def complete(self, ask: Ask) -> Completion:
        started = time.perf_counter()
        try:
            response = await self._connect().messages.create(**self.body(ask))
        except anthropic.AnthropicError as exc:
            raise self._translate(exc) from None
        usage = response.usage
        return Completion(
            text=answer_text(response),
            finish_reason=finish_reason(response.stop_reason),
            prompt_tokens=input_tokens(usage) if usage else 0,
            completion_tokens=usage.output_tokens if usage else 0,
            latency_s=time.perf_counter() - started,
        )

    def _translate(self, exc: anthropic.AnthropicError) -> Exception:
        """The SDK's error as Retryable, Rejected or ProviderError, the key scrubbed."""
        reason = self._scrub(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if status in FATAL_STATUS:
                return ProviderError(f"{FATAL_STATUS[status].format(env=self._key_env)} ({reason})")
            if status in RETRYABLE_STATUS or status >= 500:
                return Retryable(reason, retry_after(exc.response.headers))
            return Rejected(reason)
        if isinstance(exc, anthropic.APIResponseValidationError):
            return Retryable(reason)  # an answer the SDK could not read: ask again
        if isinstance(exc, anthropic.APIConnectionError):  # timeouts included
            return Retryable(reason)
        return ProviderError(f"the anthropic client failed before sending: {reason}")


def split_system(messages: Messages) -> tuple[str, list[MessageParam]]:
    """The system messages joined (the API's top-level ``system``) and the other turns.

    Empty turns are left out: the API refuses an empty text block, and a re-ask of an empty
    answer would otherwise send one (two user turns in a row are merged by the API).
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"])
    turns = [
        cast("MessageParam", {"role": m["role"], "content": m["content"]})
        for m in messages
        if m["role"] != "system" and m["content"]
    ]
    return system, turns


def outputs_tool(keys: list[str]) -> ToolParam:
    """The one tool the model must call: the KEYS protocol's answer as an input schema."""
    output = {
        "type": "object",
        "properties": {
            "key": {"type": "string", "enum": list(keys)},
            "text": {"type": "string"},
        },
        "required": ["key", "text"],
    }
    return {
        "name": TOOL_NAME,
        "description": "Record the texts you wrote: exactly one output for each requested key.",
        "input_schema": {
            "type": "object",
            "properties": {"outputs": {"type": "array", "items": output}},
            "required": ["outputs"],
        },
    }


def answer_text(response: Message) -> str:
    """The forced tool's input as JSON text; the text blocks when the model (or a gateway
    that dropped the tool) answered in prose."""
    for block in response.content:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            return json.dumps(block.input, ensure_ascii=False)
    return "".join(block.text for block in response.content if block.type == "text")


def finish_reason(stop_reason: str | None) -> str | None:
    """``stop_reason`` in the words ``parse`` knows: ``length`` for an answer cut at
    ``max_tokens``, otherwise as the API said it (``tool_use``, ``end_turn``, ``refusal``…)."""
    return "length" if stop_reason == "max_tokens" else stop_reason


def input_tokens(usage: Any) -> int:
    """Every input token the request was billed for: plain, written to and read from the
    prompt cache (the last two are absent or None when no cache was involved)."""
    cached = (
        getattr(usage, name, None) or 0
        for name in ("cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return int(usage.input_tokens) + sum(cached)

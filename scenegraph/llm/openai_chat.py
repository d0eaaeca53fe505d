"""The ``openai`` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
Ollama, llama.cpp server, …) through ``AsyncOpenAI``.

The client's own retries are off: ``retry.call_with_retries`` retries with its own backoff
and honours ``Retry-After``. The SDK's errors are translated here, by type, into the three
outcomes of ``base``; the API key is scrubbed from every message that leaves this module.
"""

from __future__ import annotations

import time
from typing import Any

import openai

from ..errors import ProviderError
from .base import Ask, Completion, Rejected, Retryable
from .http import RemoteProvider, retry_after

RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.ConflictError,
    openai.APIResponseValidationError,
)
FATAL = {
    openai.AuthenticationError: "the endpoint refused the API key: check {env}",
    openai.PermissionDeniedError: "the API key may not use this model or endpoint ({env})",
    openai.NotFoundError: "model or endpoint not found: check --base-url and --model",
}


class OpenAIProvider(RemoteProvider[openai.AsyncOpenAI]):
    name = "openai"
    default_host = "api.openai.com"
    client_class = openai.AsyncOpenAI

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        key_env: str,
        base_url: str | None = None,
        temperature: float = 0.9,
        max_tokens: int = 1024,
        seed: int | None = None,
        json_mode: bool = True,
        timeout_s: float = 60.0,
    ):
        settings = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "json_mode": json_mode,
        }
        super().__init__(
            model=model,
            api_key=api_key,
            key_env=key_env,
            base_url=base_url,
            timeout_s=timeout_s,
            settings=settings,
        )

    def body(self, ask: Ask) -> dict[str, Any]:
        """The chat-completions request for ``ask``: what ``complete`` sends, and what a batch
        (``openai_batch``) puts on each line."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": ask.messages,
            "temperature": self._settings["temperature"],
            "max_tokens": self._settings["max_tokens"],
        }
        if self._settings["seed"] is not None:
            body["seed"] = self._settings["seed"]
        if self._settings["json_mode"]:
            body["response_format"] = {"type": "json_object"}
        return body

    async def complete(self, ask: Ask) -> Completion:
        started = time.perf_counter()
        try:
            # The messages are plain {"role", "content"} dicts: the SDK's TypedDicts, untyped.
            response = await self._connect().chat.completions.create(**self.body(ask))
        except openai.OpenAIError as exc:
            raise self._translate(exc) from None
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Completion(
            text=(choice.message.content or "") if choice else "",
            finish_reason=choice.finish_reason if choice else None,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=time.perf_counter() - started,
        )

    def _translate(self, exc: openai.OpenAIError) -> Exception:
        """The SDK's error as Retryable, Rejected or ProviderError, the key scrubbed."""
        reason = self._scrub(f"{type(exc).__name__}: {exc}")
        for kind, message in FATAL.items():
            if isinstance(exc, kind):
                return ProviderError(f"{message.format(env=self._key_env)} ({reason})")
        if isinstance(exc, RETRYABLE):
            response = getattr(exc, "response", None)  # connection errors and timeouts have none
            headers = response.headers if response is not None else None
            return Retryable(reason, retry_after(headers))
        return Rejected(reason)

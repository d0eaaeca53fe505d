"""The ``openai`` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
Ollama, llama.cpp server, …) through ``AsyncOpenAI``.

The client's own retries are off: ``retry.call_with_retries`` retries with its own backoff
and honours ``Retry-After``. The SDK's errors are translated here, by type, into the three
outcomes of ``base``; the API key is scrubbed from every message that leaves this module.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import openai

from ..errors import ProviderError
from .base import Ask, Completion, Provider, Rejected, Retryable
from .http import endpoint_host, retry_after

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

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


class OpenAIProvider(Provider):
    name = "openai"

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
        self.model = model
        self.base_url = base_url
        self.endpoint = endpoint_host(base_url, "api.openai.com")
        self._key, self._key_env = api_key, key_env
        self._settings: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "json_mode": json_mode,
        }
        self._timeout_s = timeout_s
        self._client: openai.AsyncOpenAI | None = None

    def params(self) -> dict[str, Any]:
        return dict(self._settings)

    def _connect(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self._key, base_url=self.base_url, timeout=self._timeout_s, max_retries=0
            )
        return self._client

    async def complete(self, ask: Ask) -> Completion:
        extra: dict[str, Any] = {}
        if self._settings["seed"] is not None:
            extra["seed"] = self._settings["seed"]
        if self._settings["json_mode"]:
            extra["response_format"] = {"type": "json_object"}
        started = time.perf_counter()
        try:
            response = await self._connect().chat.completions.create(
                # Plain {"role", "content"} dicts: the SDK's message TypedDicts, untyped.
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", ask.messages),
                temperature=self._settings["temperature"],
                max_tokens=self._settings["max_tokens"],
                **extra,
            )
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

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

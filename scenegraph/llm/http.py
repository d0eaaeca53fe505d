"""What the providers behind an HTTP API share: their setup and SDK client (``RemoteProvider``),
the endpoint's host for provenance, and how long a server asked to wait before the next try."""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from .base import Provider


class _Client(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_Client)
C_co = TypeVar("C_co", bound=_Client, covariant=True)


class _ClientClass(Protocol[C_co]):
    def __call__(
        self, *, api_key: str, base_url: str | None, timeout: float, max_retries: int
    ) -> C_co: ...


class RemoteProvider(Provider, Generic[C]):
    """A provider behind an HTTP API: the model and endpoint that provenance records, the key
    (scrubbed from every message that leaves the provider), the settings ``params`` reports, and
    one SDK client (``client_class``, its own retries off: ``retry`` retries), made on first
    use and closed by ``aclose``."""

    default_host: ClassVar[str]
    client_class: ClassVar[_ClientClass[Any]]

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        key_env: str,
        base_url: str | None,
        timeout_s: float,
        settings: dict[str, Any],
    ):
        self.model = model
        self.base_url = base_url
        self.endpoint = endpoint_host(base_url, self.default_host)
        self._key, self._key_env = api_key, key_env
        self._settings = settings
        self._timeout_s = timeout_s
        self._client: C | None = None

    def _connect(self) -> C:
        if self._client is None:
            self._client = self.client_class(
                api_key=self._key, base_url=self.base_url, timeout=self._timeout_s, max_retries=0
            )
        return self._client

    def params(self) -> dict[str, Any]:
        return dict(self._settings)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def endpoint_host(base_url: str | None, default: str) -> str:
    """``host[:port]`` of the endpoint (``default`` without one): what provenance records,
    never a path or credentials."""
    if not base_url:
        return default
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms``, or ``retry-after`` in seconds or
    as an HTTP date), if it did."""
    if headers is None:
        return None
    if (ms := _seconds(headers.get("retry-after-ms"))) is not None:
        return max(0.0, ms / 1000)
    value = headers.get("retry-after")
    seconds = _seconds(value)
    if seconds is None and value:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return None if seconds is None else max(0.0, seconds)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None

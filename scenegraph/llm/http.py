"""What the HTTP providers share: the endpoint's host for provenance, and how long a server
asked to wait before the next try."""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit


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

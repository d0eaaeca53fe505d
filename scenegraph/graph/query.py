"""Cypher that people write — `scenegraph cypher`, `export --select`, the explorer's console.

This is the one door through which text from outside the package reaches a store. It runs
read-only unless the caller asks for writes: the lexical guard (``readonly.py``) and the
store's own read-only transaction both stand behind ``write=False``.
"""

from __future__ import annotations

from typing import Any

from .base import QueryResult, Store


def user_query(
    store: Store, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False
) -> QueryResult:
    """Run one statement a person wrote; raises ReadOnlyViolation for a write without ``write``."""
    return store.run(cypher, params, write=write)

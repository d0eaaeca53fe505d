"""The generation journal: one row per item key in the store's journal file (table ``items``).

Statuses, in the order an item moves through them:

* ``failed``     — no usable answer after the retries; ``reason`` says why. The next run retries.
* ``generated``  — answered; the expression is in ``payload``, not yet confirmed in the graph.
  Written *before* the graph, so a run killed in between writes it on the next run without
  asking the model again (a second answer would be a duplicate).
* ``stored``     — in the graph. The next run skips it.
* ``superseded`` — stored once; a newer key of the same slot replaced it.

The file, its migrations and its request cache are ``scenegraph.llm.journal``'s; this module
adds the items table and what generation asks of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..llm import journal as llm_journal
from ..llm.journal import Migration
from ..text import canonical_json

# Sorted by name, with the file's other migrations: the order a fresh journal applies them.
MIGRATIONS: tuple[Migration, ...] = (
    (
        "001_items",
        """
        CREATE TABLE items (
            key TEXT PRIMARY KEY,
            slot TEXT NOT NULL,
            scene_ids TEXT NOT NULL,
            style TEXT, register TEXT, tone TEXT, form TEXT, target TEXT,
            provider TEXT NOT NULL, model TEXT NOT NULL, template_hash TEXT NOT NULL,
            params TEXT NOT NULL, content_hash TEXT NOT NULL, context_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            expression_id TEXT, payload TEXT, reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            prompt_tokens INTEGER, completion_tokens INTEGER, latency_s REAL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX items_slot ON items(slot);
        CREATE INDEX items_expression ON items(expression_id);
    """,
    ),
    *llm_journal.MIGRATIONS,
)


@dataclass(frozen=True)
class Entry:
    """What the journal knows of one key."""

    slot: str
    status: str
    expression_id: str | None


@dataclass
class Record:
    """One row to write: an item's identity and what became of it."""

    key: str
    slot: str
    identity: dict[str, Any]  # scene_ids, style, …, context_hash: the columns that name the item
    status: str
    expression_id: str | None = None
    payload: str | None = None  # the expression as JSON, for a ``generated`` row
    reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


IDENTITY_COLUMNS = (
    "scene_ids",
    "style",
    "register",
    "tone",
    "form",
    "target",
    "provider",
    "model",
    "template_hash",
    "params",
    "content_hash",
    "context_hash",
)


class Journal(llm_journal.Journal):
    """The journal file of a store, with generation's items."""

    migrations = MIGRATIONS

    # -- reads --------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        """Every key the journal holds (one scan; a journal is small next to its graph)."""
        rows = self._conn().execute("SELECT key, slot, status, expression_id FROM items")
        return {key: Entry(slot, status, expr) for key, slot, status, expr in rows}

    def payloads(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The expressions written ahead for ``generated`` keys."""
        return {
            key: json.loads(payload)
            for key, payload in self._select(
                "SELECT key, payload FROM items WHERE status = 'generated' AND key IN ({})", keys
            )
        }

    def replaced(self, slots: Iterable[str], keeping: set[str]) -> list[tuple[str, str | None]]:
        """(key, expression id) of stored or written-ahead rows of these slots under other keys."""
        return [
            (key, expr)
            for key, expr in self._select(
                "SELECT key, expression_id FROM items WHERE status IN ('stored', 'generated') "
                "AND slot IN ({})",
                slots,
            )
            if key not in keeping
        ]

    def in_use(self, expression_ids: Iterable[str], besides: set[str]) -> set[str]:
        """Those expression ids that a stored row other than the ``besides`` keys still holds."""
        return {
            expr
            for key, expr in self._select(
                "SELECT key, expression_id FROM items WHERE status = 'stored' "
                "AND expression_id IN ({})",
                expression_ids,
            )
            if key not in besides
        }

    def failures(self, keys: Iterable[str]) -> dict[str, str]:
        return dict(
            self._select(
                "SELECT key, reason FROM items WHERE status = 'failed' AND key IN ({})", keys
            )
        )

    # -- writes -------------------------------------------------------------------------

    def record(self, records: list[Record], consumed: Iterable[str] = ()) -> None:
        """Insert or update rows and mark the batch requests (custom ids) whose results they
        hold as consumed, in one transaction."""
        now = llm_journal.now()
        rows = [
            {
                **{c: _column(r.identity[c]) for c in IDENTITY_COLUMNS},
                "key": r.key,
                "slot": r.slot,
                "status": r.status,
                "expression_id": r.expression_id,
                "payload": r.payload,
                "reason": r.reason,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "latency_s": r.latency_s,
                "updated_at": now,
            }
            for r in records
        ]
        columns = [
            "key",
            "slot",
            *IDENTITY_COLUMNS,
            "status",
            "expression_id",
            "payload",
            "reason",
            "prompt_tokens",
            "completion_tokens",
            "latency_s",
            "updated_at",
        ]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2 + len(IDENTITY_COLUMNS) :])
        self._write_all(
            [
                (
                    f"INSERT INTO items ({', '.join(columns)}, attempts) "
                    f"VALUES ({', '.join(':' + c for c in columns)}, 1) "
                    f"ON CONFLICT(key) DO UPDATE SET {updates}, attempts = items.attempts + 1",
                    rows,
                ),
                (
                    "UPDATE batch_requests SET state = 'consumed', payload = NULL "
                    "WHERE custom_id = ? AND state IN ('answered', 'errored')",
                    [(custom_id,) for custom_id in dict.fromkeys(consumed)],
                ),
            ]
        )

    def mark(self, keys: Iterable[str], status: str) -> None:
        """Set the status of rows (``stored`` drops the written-ahead payload)."""
        now = llm_journal.now()
        payload = ", payload = NULL" if status == "stored" else ""
        self._write(
            f"UPDATE items SET status = ?, updated_at = ?{payload} WHERE key = ?",
            [(status, now, key) for key in keys],
        )


def _column(value: Any) -> Any:
    return canonical_json(value) if isinstance(value, (list, tuple, dict)) else value

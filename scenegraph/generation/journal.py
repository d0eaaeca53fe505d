"""The generation journal: one SQLite row per item key, beside the store (``journal.sqlite``).

Statuses, in the order an item moves through them:

* ``failed``     — no usable answer after the retries; ``reason`` says why. The next run retries.
* ``generated``  — answered; the expression is in ``payload``, not yet confirmed in the graph.
  Written *before* the graph, so a run killed in between writes it on the next run without
  asking the model again (a second answer would be a duplicate).
* ``stored``     — in the graph. The next run skips it.
* ``superseded`` — stored once; a newer key of the same slot replaced it.

The ``judgements`` table caches the quality checks' LLM judge (``scenegraph.quality.judge``), one
answer per key of what was judged, so a re-run asks the model only about what changed.

The schema grows by named migrations, applied once each and recorded in ``_migrations``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..text import canonical_json

JOURNAL_FILE = "journal.sqlite"
CHUNK = 500  # values per IN (…) list

MIGRATIONS: list[tuple[str, str]] = [
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
    (
        "002_judgements",
        """
        CREATE TABLE judgements (
            key TEXT PRIMARY KEY,
            expression_id TEXT NOT NULL,
            model TEXT NOT NULL,
            payload TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
    """,
    ),
]


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


class Journal:
    """The journal file of a store; opened on first use, safe to use from one thread at a time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def exists(self) -> bool:
        return self.path.exists()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
                db.execute("PRAGMA busy_timeout=5000")
                migrate(db)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the generation journal {self.path}: {exc}") from exc
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

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

    def judgements(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Cached answers of the quality checks' judge, by key."""
        return {
            key: json.loads(payload)
            for key, payload in self._select(
                "SELECT key, payload FROM judgements WHERE key IN ({})", keys
            )
        }

    def _select(self, query: str, values: Iterable[str]) -> Iterator[tuple]:
        values = list(dict.fromkeys(values))
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            yield from self._conn().execute(query.format(",".join("?" * len(chunk))), chunk)

    # -- writes -------------------------------------------------------------------------

    def record(self, records: list[Record]) -> None:
        """Insert or update rows, in one transaction."""
        now = _now()
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
        self._write(
            f"INSERT INTO items ({', '.join(columns)}, attempts) "
            f"VALUES ({', '.join(':' + c for c in columns)}, 1) "
            f"ON CONFLICT(key) DO UPDATE SET {updates}, attempts = items.attempts + 1",
            rows,
        )

    def mark(self, keys: Iterable[str], status: str) -> None:
        """Set the status of rows (``stored`` drops the written-ahead payload)."""
        now = _now()
        payload = ", payload = NULL" if status == "stored" else ""
        self._write(
            f"UPDATE items SET status = ?, updated_at = ?{payload} WHERE key = ?",
            [(status, now, key) for key in keys],
        )

    def record_judgement(
        self, key: str, expression_id: str, model: str, payload: dict[str, Any]
    ) -> None:
        self._write(
            "INSERT INTO judgements (key, expression_id, model, payload, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "payload = excluded.payload, updated_at = excluded.updated_at",
            [(key, expression_id, model, json.dumps(payload, ensure_ascii=False), _now())],
        )

    def _write(self, query: str, rows: list) -> None:
        if not rows:
            return
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(query, rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded; returns their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {name for (name,) in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, script in MIGRATIONS:
        if name in done:
            continue
        db.executescript(
            f"BEGIN IMMEDIATE; {script}; "
            f"INSERT INTO _migrations VALUES ('{name}', '{_now()}'); COMMIT;"
        )
        applied.append(name)
    return applied


def _column(value: Any) -> Any:
    return canonical_json(value) if isinstance(value, (list, tuple, dict)) else value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")

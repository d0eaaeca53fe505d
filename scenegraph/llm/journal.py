"""The journal: one SQLite file beside the store (``journal.sqlite``) that remembers what models
were asked and answered, so that nothing paid for is asked twice and a killed run loses nothing.

``Journal`` holds what every user of the file shares — opening it, named migrations applied once
each and recorded in ``_migrations``, chunked reads, one-transaction writes — and the request
cache: one answer per key of everything the answer depends on (table ``answers``), with the
tokens it cost. The quality judge caches its answers there. Generation keeps its items in the
same file through a subclass that adds its own migrations (``scenegraph.generation.journal``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from ..errors import StoreError

JOURNAL_FILE = "journal.sqlite"
CHUNK = 500  # values per IN (…) list

Migration = tuple[str, str]  # (name, SQL script); append-only: a named migration never changes

MIGRATIONS: tuple[Migration, ...] = (
    (
        # The judge's first cache, which the next migration folds into ``answers``; it stays in
        # the list because journals on disk recorded it.
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
    (
        "003_answers",
        """
        CREATE TABLE answers (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            payload TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );
        INSERT INTO answers (key, model, payload, updated_at)
            SELECT key, model, payload, updated_at FROM judgements;
        DROP TABLE judgements;
    """,
    ),
    (
        # Batches sent to a provider's batch API and their requests, journaled before the
        # server is asked to create them (``remote_id`` NULL until it answered).
        "004_batches",
        """
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            remote_id TEXT,
            state TEXT NOT NULL,
            requests INTEGER NOT NULL,
            succeeded INTEGER NOT NULL DEFAULT 0,
            errored INTEGER NOT NULL DEFAULT 0,
            expired INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE batch_requests (
            batch_id TEXT NOT NULL,
            custom_id TEXT NOT NULL,
            item_keys TEXT NOT NULL,
            state TEXT NOT NULL,
            payload TEXT,
            reason TEXT,
            PRIMARY KEY (batch_id, custom_id)
        );
        CREATE INDEX batch_requests_custom ON batch_requests(custom_id);
    """,
    ),
)

# A batch's states: ``submitting`` (journaled; whether the server created it is not known yet),
# ``submitted`` (the server's id is known), ``ended`` (every request has its result here),
# ``lost`` (the server never created it: its requests are sent again).
LIVE_BATCH_STATES = ("submitting", "submitted", "ended")
# A request's: ``pending``, ``answered`` (the completion in ``payload``), ``errored`` (``reason``),
# ``retry`` (expired, canceled or a server error: sent again), ``consumed`` (its items written).
HELD_REQUEST_STATES = ("pending", "answered", "errored")


@dataclass(frozen=True)
class Answer:
    """A model's answer to one request, as its asker read it, and what it cost."""

    key: str
    model: str
    payload: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class BatchRow:
    """One batch as the journal knows it."""

    id: str
    provider: str
    model: str
    remote_id: str | None
    state: str
    requests: int
    succeeded: int
    errored: int
    expired: int
    created_at: str


@dataclass(frozen=True)
class BatchRequestRow:
    """One request of a batch: its custom id (the request key), the item keys it asks for, and
    its result once known."""

    batch_id: str
    custom_id: str
    item_keys: list[str]
    state: str
    payload: dict[str, Any] | None
    reason: str | None


class Journal:
    """The journal file of a store; opened on first use, safe to use from one thread at a time."""

    migrations: ClassVar[Sequence[Migration]] = MIGRATIONS

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
                migrate(db, self.migrations)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the journal {self.path}: {exc}") from exc
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- the request cache --------------------------------------------------------------

    def answers(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached payloads of those keys that have one."""
        return {
            key: json.loads(payload)
            for key, payload in self._select(
                "SELECT key, payload FROM answers WHERE key IN ({})", keys
            )
        }

    def record_answer(self, answer: Answer) -> None:
        """Cache an answer (the moment it arrives: a killed run keeps what it paid for)."""
        self._write(
            "INSERT INTO answers (key, model, payload, prompt_tokens, completion_tokens, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "model = excluded.model, payload = excluded.payload, "
            "prompt_tokens = excluded.prompt_tokens, "
            "completion_tokens = excluded.completion_tokens, updated_at = excluded.updated_at",
            [
                (
                    answer.key,
                    answer.model,
                    json.dumps(answer.payload, ensure_ascii=False),
                    answer.prompt_tokens,
                    answer.completion_tokens,
                    now(),
                )
            ],
        )

    # -- batches ------------------------------------------------------------------------

    def open_batch(
        self, batch_id: str, provider: str, model: str, requests: list[tuple[str, list[str]]]
    ) -> None:
        """Journal a batch and its (custom id, item keys) requests as ``submitting``, in one
        transaction: called before the server is asked, so a killed run knows what it may
        have sent."""
        stamp = now()
        self._write_all(
            [
                (
                    "INSERT INTO batches (id, provider, model, state, requests, created_at, "
                    "updated_at) VALUES (?, ?, ?, 'submitting', ?, ?, ?)",
                    [(batch_id, provider, model, len(requests), stamp, stamp)],
                ),
                (
                    "INSERT INTO batch_requests (batch_id, custom_id, item_keys, state) "
                    "VALUES (?, ?, ?, 'pending')",
                    [(batch_id, cid, json.dumps(keys)) for cid, keys in requests],
                ),
            ]
        )

    def batch_sent(self, batch_id: str, remote_id: str | None) -> None:
        """The server created the batch as ``remote_id``; None: it never did (``lost``)."""
        state = "submitted" if remote_id else "lost"
        self._write(
            "UPDATE batches SET remote_id = ?, state = ?, updated_at = ? WHERE id = ?",
            [(remote_id, state, now(), batch_id)],
        )

    def batch_ended(self, batch_id: str, results: list[tuple[str, str, str | None, str | None]]):
        """Record every (custom id, state, payload JSON, reason) result of an ended batch and
        its counts, in one transaction."""
        counts = {
            state: sum(1 for _, s, _, _ in results if s == state)
            for state in ("answered", "errored", "retry")
        }
        self._write_all(
            [
                (
                    "UPDATE batch_requests SET state = ?, payload = ?, reason = ? "
                    "WHERE batch_id = ? AND custom_id = ? AND state = 'pending'",
                    [(st, payload, why, batch_id, cid) for cid, st, payload, why in results],
                ),
                (
                    "UPDATE batches SET state = 'ended', succeeded = ?, errored = ?, "
                    "expired = ?, updated_at = ? WHERE id = ?",
                    [(counts["answered"], counts["errored"], counts["retry"], now(), batch_id)],
                ),
            ]
        )

    def batches(self) -> list[BatchRow]:
        """Every batch, oldest first."""
        rows = self._conn().execute(
            "SELECT id, provider, model, remote_id, state, requests, succeeded, errored, "
            "expired, created_at FROM batches ORDER BY created_at, id"
        )
        return [BatchRow(*row) for row in rows]

    def held_requests(self) -> list[BatchRequestRow]:
        """Requests of live batches that hold a result or may still get one, oldest first."""
        rows = self._conn().execute(
            "SELECT r.batch_id, r.custom_id, r.item_keys, r.state, r.payload, r.reason "
            "FROM batch_requests r JOIN batches b ON b.id = r.batch_id "
            f"WHERE b.state IN {LIVE_BATCH_STATES} AND r.state IN {HELD_REQUEST_STATES} "
            "ORDER BY b.created_at, b.id"
        )
        return [
            BatchRequestRow(
                bid, cid, json.loads(keys), state, json.loads(payload) if payload else None, why
            )
            for bid, cid, keys, state, payload, why in rows
        ]

    def requests_of(self, batch_id: str) -> set[str]:
        """The custom ids a batch holds."""
        rows = self._conn().execute(
            "SELECT custom_id FROM batch_requests WHERE batch_id = ?", (batch_id,)
        )
        return {cid for (cid,) in rows}

    # -- for subclasses -----------------------------------------------------------------

    def _select(self, query: str, values: Iterable[str]) -> Iterator[tuple]:
        """Rows of ``query`` whose ``IN ({})`` takes ``values``, a chunk at a time."""
        values = list(dict.fromkeys(values))
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            yield from self._conn().execute(query.format(",".join("?" * len(chunk))), chunk)

    def _write(self, query: str, rows: list) -> None:
        """``query`` for each of ``rows``, in one transaction."""
        self._write_all([(query, rows)])

    def _write_all(self, statements: list[tuple[str, list]]) -> None:
        """Each (query, rows) for each of its rows, all in one transaction."""
        statements = [(query, rows) for query, rows in statements if rows]
        if not statements:
            return
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                for query, rows in statements:
                    db.executemany(query, rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded; returns their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {name for (name,) in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, script in migrations:
        if name in done:
            continue
        db.executescript(
            f"BEGIN IMMEDIATE; {script}; "
            f"INSERT INTO _migrations VALUES ('{name}', '{now()}'); COMMIT;"
        )
        applied.append(name)
    return applied


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")

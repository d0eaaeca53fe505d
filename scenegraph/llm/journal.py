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
)


@dataclass(frozen=True)
class Answer:
    """A model's answer to one request, as its asker read it, and what it cost."""

    key: str
    model: str
    payload: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0


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

    # -- for subclasses -----------------------------------------------------------------

    def _select(self, query: str, values: Iterable[str]) -> Iterator[tuple]:
        """Rows of ``query`` whose ``IN ({})`` takes ``values``, a chunk at a time."""
        values = list(dict.fromkeys(values))
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            yield from self._conn().execute(query.format(",".join("?" * len(chunk))), chunk)

    def _write(self, query: str, rows: list) -> None:
        """``query`` for each of ``rows``, in one transaction."""
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

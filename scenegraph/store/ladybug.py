"""The embedded store: LadybugDB in a folder on disk (the default, nothing to start).

One database file (``graph.lbug``) inside the store folder; the folder also holds the vector
indexes and journals. LadybugDB allows one writer at a time and fails a second one at once, so
every statement goes through one connection under a lock. Read-only statements run inside
``BEGIN TRANSACTION READ ONLY`` after the lexical guard.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import ladybug

from ..batch import GraphBatch
from ..errors import StoreError, StoreUnavailable
from ..readonly import check_read_only
from ..schema import CYPHER_DIR, statements
from .base import Progress, QueryResult, Store, upsert_statements

DB_FILE = "graph.lbug"
WRITE_BATCH = 5_000


class LadybugStore(Store):
    dialect = "ladybug"

    def __init__(self, folder: str | Path, read_only: bool = False):
        self.data_dir = Path(folder)
        self.uri = str(self.data_dir)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._db: ladybug.Database | None = None
        self._conn: ladybug.Connection | None = None

    # -- connection ---------------------------------------------------------------------

    def _connection(self) -> ladybug.Connection:
        if self._conn is None:
            path = self.data_dir / DB_FILE
            if self.read_only and not path.exists():
                raise StoreUnavailable(f"no store at {self.data_dir}: run `scenegraph init` first")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._db = ladybug.Database(str(path), read_only=self.read_only)
                self._conn = ladybug.Connection(self._db)
            except RuntimeError as exc:
                raise StoreUnavailable(
                    f"cannot open the embedded store {path}: {exc} — if another scenegraph "
                    "process (serve, load, generate) is writing to it, stop it or wait") from exc
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._db.close()
            self._conn = self._db = None

    # -- primitives ---------------------------------------------------------------------

    def _execute(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult:
        try:
            result = self._connection().execute(cypher, params or {})
        except RuntimeError as exc:
            raise StoreError(f"query failed: {exc}") from exc
        columns = result.get_column_names()
        rows = [[_plain(v) for v in row] for row in result.get_all()]
        return QueryResult(columns=columns, rows=rows)

    def run(self, cypher: str, params: dict[str, Any] | None = None, *,
            write: bool = False) -> QueryResult:
        with self._lock:
            if write:
                return self._execute(cypher, params)
            check_read_only(cypher)
            self._execute("BEGIN TRANSACTION READ ONLY")
            try:
                return self._execute(cypher, params)
            finally:
                self._end_transaction("COMMIT")

    def _end_transaction(self, how: str) -> None:
        # A failed statement has already ended the transaction in LadybugDB.
        try:
            self._connection().execute(how)
        except RuntimeError:
            pass

    def init_schema(self) -> None:
        with self._lock:
            for statement in statements(CYPHER_DIR / "schema.ladybug.cypher"):
                self._execute(statement)

    def upsert(self, batch: GraphBatch, progress: Progress | None = None) -> None:
        """One transaction for the whole batch: a failure leaves the store as it was."""
        with self._lock:
            self._execute("BEGIN TRANSACTION")
            try:
                for query, rows in upsert_statements(batch):
                    for start in range(0, len(rows), WRITE_BATCH):
                        chunk = rows[start:start + WRITE_BATCH]
                        self._execute(query, {"rows": chunk})
                        if progress:
                            progress(len(chunk))
            except BaseException:
                self._end_transaction("ROLLBACK")
                raise
            self._execute("COMMIT")


def _plain(value: Any) -> Any:
    """LadybugDB nodes and relationships as plain dicts: properties plus `_label`."""
    if isinstance(value, dict) and "_LABEL" in value:
        out = {k: v for k, v in value.items() if not k.startswith("_") and v is not None}
        out["_label"] = value["_LABEL"]
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value

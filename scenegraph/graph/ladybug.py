"""The embedded store: LadybugDB in a folder on disk (the default, nothing to start).

One database file (``graph.lbug``) inside the store folder; the folder also holds the vector
indexes and journals. LadybugDB allows one writer at a time and fails a second one at once, so
every statement goes through one connection under a lock. Read-only statements run inside
``BEGIN TRANSACTION READ ONLY`` after the lexical guard.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, cast

import ladybug
import pyarrow as pa

from ..errors import StoreError, StoreUnavailable
from .base import (
    Progress,
    QueryResult,
    Store,
    node_merge,
    rel_merge,
    rel_replace,
    split_known,
)
from .batch import GraphBatch, key_position, node_dicts, rel_dicts
from .readonly import check_read_only
from .schema import CYPHER_DIR, schema, statements

DB_FILE = "graph.lbug"
IN_RANGE = "MATCH (s:Scene) WHERE s.id >= $first AND s.id <= $last "
_SCALAR_TYPES = frozenset(
    {
        "STRING",
        "INT64",
        "INT32",
        "INT16",
        "INT8",
        "UINT64",
        "UINT32",
        "DOUBLE",
        "FLOAT",
        "BOOL",
        "BOOLEAN",
        "DATE",
        "TIMESTAMP",
        "INTERVAL",
        "SERIAL",
        "UUID",
        "BLOB",
        "DECIMAL",
        "ANY",
    }
)
WRITE_BATCH = 5_000  # rows bound to one MERGE statement
# Rows in one COPY: inside a transaction each COPY has a fixed cost, so 5,000-row copies made
# bench/ingest.py's embedded load ~10% slower than one copy per table.
COPY_BATCH = 200_000
# LadybugDB gives back the memory its write transactions leave behind only when the database
# is closed: without this, generating 200,000 expressions grew the process by ~7 KB each (1.4 GB);
# closing after every ~50,000 rows written keeps it flat. The next statement reopens it.
RELEASE_ROWS = 50_000


class LadybugStore(Store):
    dialect = "ladybug"

    def __init__(self, folder: str | Path, read_only: bool = False):
        self.data_dir = Path(folder)
        self.uri = str(self.data_dir)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._db: ladybug.Database | None = None
        self._conn: ladybug.Connection | None = None
        self._rows_written = 0  # by upsert since the database was opened

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
                    "process (load, embed, generate) is writing to it, wait for it or stop it"
                ) from exc
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                cast(ladybug.Database, self._db).close()  # opened before the connection
            self._conn = self._db = None
            self._rows_written = 0

    # -- primitives ---------------------------------------------------------------------

    def _execute(self, cypher: str, params: dict[str, Any] | None = None) -> QueryResult:
        try:
            # One statement gives one result (a list comes only from several).
            result = cast(ladybug.QueryResult, self._connection().execute(cypher, params or {}))
        except RuntimeError as exc:
            raise StoreError(f"query failed: {exc}") from exc
        columns = result.get_column_names()
        rows = cast(list[list[Any]], result.get_all())  # lists: the connection is not as_dict
        # Only nodes, relationships, paths and containers need converting; scalars stay as they are.
        nested = [
            i for i, kind in enumerate(result.get_column_data_types()) if kind not in _SCALAR_TYPES
        ]
        for row in rows if nested else ():
            for i in nested:
                row[i] = _plain(row[i])
        return QueryResult.model_construct(columns=columns, rows=rows)

    def run(
        self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> QueryResult:
        with self._lock:
            if write:
                return self._execute(cypher, params)
            check_read_only(cypher)
            self._execute("BEGIN TRANSACTION READ ONLY")
            try:
                return self._execute(cypher, params)
            finally:
                self._end_transaction("COMMIT")

    def window_rows(
        self,
        tail: str,
        window: list[str],
        *,
        dense: bool = False,
        params: dict[str, Any] | None = None,
    ) -> list[list[Any]]:
        """The window bound as ``s.id >= $first AND s.id <= $last``, plus ``AND s.id IN $ids``
        unless ``dense``: LadybugDB runs that as a bounded scan joined along adjacency lists,
        10–30 times faster than ``s.id IN $ids`` or ``UNWIND $ids … MATCH ({id: sid})`` on
        large relationship tables (those join against a scan of the whole table). Its strings
        sort by code point, as Python's do, so the range holds exactly the window's ids. (Neo4j
        keeps the list: it sorts strings by UTF-16 unit, so a range could disagree.)"""
        bounds = {"first": window[0], "last": window[-1], **(params or {})}
        if dense:
            return self.run(IN_RANGE + tail, bounds).rows
        return self.run(IN_RANGE + "AND s.id IN $ids " + tail, {**bounds, "ids": window}).rows

    def local_files(self) -> list[Path]:
        """The database file and its write-ahead log."""
        database = self.data_dir / DB_FILE
        return [database, database.with_name(DB_FILE + ".wal")]

    def _end_transaction(self, how: str) -> None:
        # A failed statement has already ended the transaction in LadybugDB.
        with contextlib.suppress(RuntimeError):
            self._connection().execute(how)

    def init_schema(self) -> None:
        with self._lock:
            for statement in statements(CYPHER_DIR / "schema.ladybug.cypher"):
                self._execute(statement)

    def upsert(self, batch: GraphBatch, progress: Progress | None = None) -> None:
        """One transaction for the whole batch: a failure leaves the store as it was.

        Rows whose key (or, for relationships, whose pair of endpoints) the store lacks go in
        through ``COPY FROM`` an Arrow table, an order of magnitude faster than MERGE; rows
        that exist are merged like on Neo4j.
        """
        with self._lock:
            self._execute("BEGIN TRANSACTION")
            try:
                for how, all_rows in self._upsert_work(batch):
                    for rows in _chunks(
                        all_rows, WRITE_BATCH if isinstance(how, str) else COPY_BATCH
                    ):
                        self._apply(how, rows)
                        if progress:
                            progress(len(rows))
            except BaseException:
                self._end_transaction("ROLLBACK")
                raise
            self._execute("COMMIT")
            self._rows_written += len(batch)
            if self._rows_written >= RELEASE_ROWS:
                self.close()

    def _upsert_work(self, batch: GraphBatch):
        """(how, rows) in a safe order; ``how`` is a Cypher statement or ("copy", table)."""
        added: dict[str, set] = {}
        was_empty: set[str] = set()  # labels without a node before: every edge from them is new
        for label, table in schema().nodes.items():
            if not batch.nodes.get(label):
                continue
            if not self._has_nodes(label):
                was_empty.add(label)
                yield ("copy", label), batch.node_values(label)
                continue
            values, at = batch.node_values(label), key_position(label)
            known = self._existing(
                f"MATCH (n:{label} {{{table.key}: k}}) RETURN n.{table.key}",
                {"k": [row[at] for row in values]},
            )
            new, old = split_known(label, values, known)
            added[label] = {row[at] for row in new}
            yield ("copy", label), new
            if old:
                yield node_merge(label, node_dicts(label, old))
        for rel_type, rel in schema().rels.items():
            if rel.source in was_empty:
                yield ("copy", rel_type), batch.rel_values(rel_type)
                continue
            # A node this batch adds has no old edges: none to drop, none to look for.
            fresh = added.get(rel.source, set())
            if rows := [r for r in batch.replace_rows(rel_type) if r["src"] not in fresh]:
                yield rel_replace(rel_type, rows)
            if edges := batch.rel_values(rel_type):  # (src, dst, *columns)
                known = self._existing_edges(rel_type, [r for r in edges if r[0] not in fresh])
                yield ("copy", rel_type), [r for r in edges if r[:2] not in known]
                if rel.columns and (stored := [r for r in edges if r[:2] in known]):
                    yield rel_merge(rel_type, rel_dicts(rel_type, stored))

    def _has_nodes(self, label: str) -> bool:
        """Whether the table holds a node (an empty one, as in a first load, needs no look-up
        of which keys it has: a LOAD FROM of every key costs ~15 % of such a write)."""
        return bool(self._execute(f"MATCH (n:{label}) RETURN 1 LIMIT 1").rows)

    def _existing_edges(self, rel_type: str, rows: list[tuple]) -> set:
        """The (src, dst) pairs of ``rows`` (``rel_values``) that the store already links."""
        if not rows:
            return set()
        rel = schema().rels[rel_type]
        src_key, dst_key = schema().key_of(rel.source), schema().key_of(rel.target)
        return self._existing(
            f"MATCH (a:{rel.source} {{{src_key}: s}})-[:{rel_type}]->"
            f"(b:{rel.target} {{{dst_key}: d}}) RETURN a.{src_key}, b.{dst_key}",
            {"s": [row[0] for row in rows], "d": [row[1] for row in rows]},
        )

    def _existing(self, match_return: str, columns: dict[str, list[Any]]) -> set:
        """Which of the given keys (or key pairs) the store has: one LOAD FROM over an Arrow
        table, far cheaper than binding thousands of UNWIND parameters."""
        rows = self._execute(
            "LOAD FROM $keys " + match_return,
            {
                "keys": pa.table(
                    {name: pa.array(values, pa.string()) for name, values in columns.items()}
                )
            },
        ).rows
        return {row[0] if len(row) == 1 else tuple(row) for row in rows}

    def _apply(self, how: str | tuple[str, str], rows: list[Any]) -> None:
        """A statement over dict rows, or a COPY of tuple rows into a table."""
        if isinstance(how, str):
            self._execute(how, {"rows": rows})
        elif rows:
            # A new Arrow object each time: LadybugDB 0.22 crashes on a re-used one.
            table = _arrow(how[1], rows)
            columns = f"({', '.join(table.column_names)})" if how[1] in schema().nodes else ""
            self._execute(f"COPY {how[1]}{columns} FROM $rows", {"rows": table})


def _chunks(rows: list[Any], size: int):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


_ARROW_TYPES = {
    "STRING": pa.string(),
    "INT64": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


def _arrow(table_name: str, rows: list[tuple]) -> pa.Table:
    """Rows (one or more, tuples in their table's column order: ``GraphBatch.node_values``,
    ``rel_values``) as an Arrow table in the column order LadybugDB's COPY expects. A node
    table keeps only the columns some row fills (its COPY names them; the rest stay null):
    less to write."""
    if table_name in schema().nodes:
        columns = list(schema().nodes[table_name].columns.items())
        names = [name for name, _ in columns]
    else:
        columns = [("src", "STRING"), ("dst", "STRING"), *schema().rels[table_name].columns.items()]
        names = ["from", "to", *schema().rels[table_name].columns]
    cells = zip(*rows)  # the rows turned into columns in one pass
    arrays = [pa.array(cell, type=_ARROW_TYPES[kind]) for cell, (_, kind) in zip(cells, columns)]
    if table_name in schema().nodes:
        filled = [i for i, array in enumerate(arrays) if array.null_count < len(array)]
        arrays, names = [arrays[i] for i in filled], [names[i] for i in filled]
    return pa.Table.from_arrays(arrays, names=names)


def _plain(value: Any) -> Any:
    """LadybugDB values as plain data: a node or relationship becomes a dict of its properties
    plus `_label`; a path becomes ``{"_nodes": [...], "_rels": [...]}`` of those; maps and lists
    are converted inside."""
    if isinstance(value, dict):
        if "_LABEL" in value:
            out = {k: v for k, v in value.items() if not k.startswith("_") and v is not None}
            out["_label"] = value["_LABEL"]
            return out
        if "_NODES" in value and "_RELS" in value:
            return {"_nodes": _plain(value["_NODES"]), "_rels": _plain(value["_RELS"])}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value

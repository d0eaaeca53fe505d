"""The production store: Neo4j 5 over Bolt with the official driver.

Auth comes from ``NEO4J_USER`` / ``NEO4J_PASSWORD`` and the database from ``NEO4J_DATABASE``
(default ``neo4j``). Writes run in managed transactions (``execute_write``), so transient
failures are retried by the driver; new nodes (and their edges) are CREATEd, known ones
MERGEd on their key. Read-only statements are guarded twice: the lexical guard, then a
READ-mode transaction that first ``EXPLAIN``s the statement and refuses anything the planner
does not call a read (``query_type == "r"``).

Driver errors are translated to scenegraph's own in ``_translate`` only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import neo4j
from neo4j import exceptions as neo4j_errors

from ..errors import ReadOnlyViolation, StoreError, StoreUnavailable
from .base import (
    Progress,
    QueryResult,
    Store,
    node_merge,
    rel_merge,
    rel_replace,
    split_known,
)
from .batch import GraphBatch, columns, key_position, node_dicts, rel_dicts
from .readonly import check_read_only
from .schema import CYPHER_DIR, schema, statements

WRITE_BATCH = 10_000
READ_TIMEOUT_S = 60
DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"


class Neo4jStore(Store):
    dialect = "neo4j"

    def __init__(
        self,
        uri: str,
        read_only: bool = False,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
    ):
        self.uri = uri
        self.read_only = read_only
        self.user = user or os.environ.get("NEO4J_USER", "neo4j")
        self._password = password if password is not None else os.environ.get("NEO4J_PASSWORD", "")
        self.database = database or os.environ.get("NEO4J_DATABASE", "neo4j")
        self.data_dir = _data_dir(uri, self.database)
        self._driver: neo4j.Driver | None = None

    def __repr__(self) -> str:  # never show the password
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"

    # -- connection ---------------------------------------------------------------------

    def _session(self, access_mode: str = neo4j.WRITE_ACCESS) -> neo4j.Session:
        if self._driver is None:
            driver = neo4j.GraphDatabase.driver(
                self.uri, auth=(self.user, self._password), notifications_min_severity="OFF"
            )
            with self._translated():
                driver.verify_connectivity()
            self._driver = driver
        return self._driver.session(database=self.database, default_access_mode=access_mode)

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except neo4j_errors.AuthError as exc:
            raise StoreUnavailable(
                f"Neo4j at {self.uri} refused the credentials of user {self.user!r}: "
                "set NEO4J_USER and NEO4J_PASSWORD"
            ) from exc
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired) as exc:
            raise StoreUnavailable(
                f"cannot reach Neo4j at {self.uri}: is the server running (docker compose up -d)?"
            ) from exc
        except neo4j_errors.ClientError as exc:
            if exc.code == DATABASE_NOT_FOUND:
                raise StoreUnavailable(
                    f"Neo4j at {self.uri} has no database {self.database!r}: set NEO4J_DATABASE "
                    "or create it (CREATE DATABASE needs Enterprise; Community has 'neo4j')"
                ) from exc
            raise StoreError(f"query failed: {exc.message}") from exc
        except neo4j_errors.Neo4jError as exc:
            raise StoreError(f"query failed: {exc.message}") from exc

    def _check_writable(self) -> None:
        """A store opened read-only refuses writes before they reach the server, as the
        embedded store's read-only database does."""
        if self.read_only:
            raise ReadOnlyViolation(
                f"refused: the store at {self.uri} was opened read-only; "
                "open it for writing (the command's --write, or read_only=False) to change it"
            )

    # -- primitives ---------------------------------------------------------------------

    def run(
        self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> QueryResult:
        params = params or {}
        if write:
            self._check_writable()
            with self._translated(), self._session() as session:
                return session.execute_write(_collect, cypher, params)
        check_read_only(cypher)
        with self._translated(), self._session(neo4j.READ_ACCESS) as session:
            return session.execute_read(_collect_read, cypher, params)

    def init_schema(self) -> None:
        self._check_writable()
        with self._translated(), self._session() as session:
            for statement in statements(CYPHER_DIR / "schema.neo4j.cypher"):
                session.run(statement).consume()

    def upsert(self, batch: GraphBatch, progress: Progress | None = None) -> None:
        """Batches of rows, each its own retried transaction; a re-run converges.

        Nodes whose key the store lacks are CREATEd, and so are the edges leaving them (a new
        node has none): MERGE's lookup of each edge made loading a fresh store ~40% slower.
        Nodes the store has, and their edges, are MERGEd.
        """
        self._check_writable()
        with self._translated(), self._session() as session:
            for query, rows in self._upsert_work(session, batch):
                for start in range(0, len(rows), WRITE_BATCH):
                    chunk = rows[start : start + WRITE_BATCH]
                    session.execute_write(_consume, query, {"rows": chunk})
                    if progress:
                        progress(len(chunk))

    def _upsert_work(
        self, session: neo4j.Session, batch: GraphBatch
    ) -> Iterator[tuple[str, Sequence[Any]]]:
        """(statement, rows) in a safe order: nodes, stale edges removed, edges added. Lazy:
        each label's stored keys are read just before its rows are written. What is created
        goes as the batch's tuples, read by position: no dict per row to build and send."""
        added: dict[str, set[Any]] = {}
        for label, table in schema().nodes.items():
            if rows := batch.node_values(label):
                at = key_position(label)
                known = session.execute_read(
                    _column,
                    f"UNWIND $keys AS k MATCH (n:{label} {{{table.key}: k}}) RETURN k",
                    {"keys": [row[at] for row in rows]},
                )
                new, old = split_known(label, rows, known)
                added[label] = {row[at] for row in new}
                if new:
                    yield _node_create(label), new
                if old:
                    yield node_merge(label, node_dicts(label, old))
        for rel_type, rel in schema().rels.items():
            fresh = added.get(rel.source, set())
            if stale := [r for r in batch.replace_rows(rel_type) if r["src"] not in fresh]:
                yield rel_replace(rel_type, stale)
            rows = batch.rel_values(rel_type)
            if new := [row for row in rows if row[0] in fresh]:
                yield _rel_create(rel_type), new
            if old := [row for row in rows if row[0] not in fresh]:
                yield rel_merge(rel_type, rel_dicts(rel_type, old))


def _node_create(label: str) -> str:
    """New nodes from rows in ``columns(label)`` order (a null stores no property)."""
    props = ", ".join(f"{name}: r[{i}]" for i, name in enumerate(columns(label)))
    return f"UNWIND $rows AS r CREATE (n:{label} {{{props}}})"


def _rel_create(rel_type: str) -> str:
    """Edges leaving new nodes (so none of them exists yet), from ``rel_values`` rows."""
    rel = schema().rels[rel_type]
    src_key, dst_key = schema().key_of(rel.source), schema().key_of(rel.target)
    props = ", ".join(f"{name}: r[{i}]" for i, name in enumerate(rel.columns, start=2))
    return (
        f"UNWIND $rows AS r MATCH (a:{rel.source} {{{src_key}: r[0]}}) "
        f"MATCH (b:{rel.target} {{{dst_key}: r[1]}}) "
        f"CREATE (a)-[:{rel_type}{f' {{{props}}}' if props else ''}]->(b)"
    )


def _consume(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> None:
    tx.run(cypher, params).consume()


def _column(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> set[Any]:
    return {record[0] for record in tx.run(cypher, params)}


def _collect(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> QueryResult:
    result = tx.run(cypher, params)
    columns = list(result.keys())
    rows = [[_plain(value) for value in record.values()] for record in result]
    return QueryResult(columns=columns, rows=rows)


def _collect_read(tx: neo4j.ManagedTransaction, cypher: str, params: dict[str, Any]) -> QueryResult:
    plan = tx.run("EXPLAIN " + cypher, params).consume()
    if plan.query_type != "r":
        raise ReadOnlyViolation(
            f"refused: Neo4j plans this statement as {plan.query_type!r}, "
            "not a read; run it with --write if you mean to change the store"
        )
    return _collect(tx, cypher, params)


def _plain(value: Any) -> Any:
    """Nodes and relationships as plain dicts (properties plus `_label`), like the embedded
    store."""
    if isinstance(value, neo4j.graph.Node):
        return {**dict(value), "_label": next(iter(sorted(value.labels)), "")}
    if isinstance(value, neo4j.graph.Relationship):
        return {**dict(value), "_label": value.type}
    if isinstance(value, neo4j.graph.Path):
        return {
            "_nodes": [_plain(n) for n in value.nodes],
            "_rels": [_plain(r) for r in value.relationships],
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _data_dir(uri: str, database: str) -> Path:
    """Where this Neo4j store's vector indexes and journals live on this machine."""
    parts = urlsplit(uri)
    name = re.sub(r"[^\w.-]", "_", f"neo4j-{parts.hostname}-{parts.port or 7687}-{database}")
    home = Path(os.environ.get("SCENEGRAPH_HOME", ".scenegraph"))
    return home / name

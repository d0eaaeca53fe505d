"""`copy`: move a whole graph between stores, table by table, in batches, then check counts."""

from __future__ import annotations

from ..errors import StoreError
from .base import Progress, Store
from .batch import GraphBatch
from .schema import schema

COPY_BATCH = 5_000


def copy_graph(
    source: Store, target: Store, batch_size: int = COPY_BATCH, progress: Progress | None = None
) -> dict[str, int]:
    """Copy every node and relationship of ``source`` into ``target``; returns the counts.

    Nodes go first, then relationships, each table paged in key order so memory stays bounded.
    Writes are MERGEs, so a copy into a store that already holds part of the graph converges.
    Raises ``StoreError`` if the target's counts differ from the source's afterwards.
    """
    target.init_schema()
    for label, table in schema().nodes.items():
        columns = ", ".join(f"n.{c} AS {c}" for c in table.columns)
        query = f"MATCH (n:{label}) RETURN {columns} ORDER BY n.{table.key} SKIP $skip LIMIT $limit"
        for rows in _pages(source, query, batch_size):
            batch = GraphBatch()
            for row in rows:
                batch.node(label, **row)
            target.upsert(batch)
            if progress:
                progress(len(rows))
    for rel_type, rel in schema().rels.items():
        src_key, dst_key = schema().key_of(rel.source), schema().key_of(rel.target)
        props = "".join(f", r.{c} AS {c}" for c in rel.columns)
        query = (
            f"MATCH (a:{rel.source})-[r:{rel_type}]->(b:{rel.target}) "
            f"RETURN a.{src_key} AS src, b.{dst_key} AS dst{props} "
            f"ORDER BY src, dst SKIP $skip LIMIT $limit"
        )
        for rows in _pages(source, query, batch_size):
            batch = GraphBatch()
            for row in rows:
                batch.rel(rel_type, row.pop("src"), row.pop("dst"), **row)
            target.upsert(batch)
            if progress:
                progress(len(rows))
    expected, got = source.counts(), target.counts()
    if got != expected:
        diff = {k: (expected[k], got[k]) for k in expected if expected[k] != got.get(k)}
        raise StoreError(
            f"copy finished but counts differ (source, target): {diff}; "
            "was the target written to meanwhile, or did it hold other data?"
        )
    return got


def _pages(store: Store, query: str, size: int):
    skip = 0
    while True:
        rows = store.run(query, {"skip": skip, "limit": size}).dicts()
        if not rows:
            return
        yield rows
        skip += len(rows)

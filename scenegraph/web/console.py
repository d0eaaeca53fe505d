"""The Cypher console: a read-only query, answered as a table and as a graph.

The table is the rows as the store returns them (cut at ``ROW_LIMIT``). The graph is every node
found in those rows plus the stored relationships between them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..graph.base import Store
from ..graph.query import user_query
from .graph import Graph, connect, nodes_in

ROW_LIMIT = 1_000
GRAPH_NODE_LIMIT = 1_000


class CypherRequest(BaseModel):
    query: str
    params: dict[str, Any] = {}


class CypherAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int  # rows the query returned, before the cut
    graph: Graph


def run_read_only(store: Store, request: CypherRequest) -> CypherAnswer:
    """Run the query on the read-only path; a write raises ``ReadOnlyViolation``."""
    result = user_query(store, request.query, request.params)
    rows = result.rows[:ROW_LIMIT]
    nodes = {n.id: n for n in nodes_in(rows)}
    shown = list(nodes.values())[:GRAPH_NODE_LIMIT]
    graph = Graph(
        nodes=shown,
        edges=connect(store, shown) if shown else [],
        truncated=len(nodes) > GRAPH_NODE_LIMIT,
    )
    notices = []
    if len(result.rows) > ROW_LIMIT:
        notices.append(
            f"showing the first {ROW_LIMIT} of {len(result.rows)} rows; add LIMIT to the query"
        )
    if graph.truncated:
        notices.append(f"the graph shows the first {GRAPH_NODE_LIMIT} of {len(nodes)} nodes")
    graph.notices = notices
    return CypherAnswer(columns=result.columns, rows=rows, row_count=len(result.rows), graph=graph)

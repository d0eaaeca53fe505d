"""Graph stores behind one interface: LadybugDB (embedded default) and Neo4j (production)."""

from __future__ import annotations

import os
from pathlib import Path

from .base import QueryResult, Store

DEFAULT_STORE = ".scenegraph"
NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


def resolve_uri(uri: str | None) -> str:
    """The store URI from the argument, else ``SCENEGRAPH_STORE``, else ``./.scenegraph``."""
    return uri or os.environ.get("SCENEGRAPH_STORE") or DEFAULT_STORE


def open_store(uri: str | None = None, read_only: bool = False) -> Store:
    """Open a store by URI: ``bolt://…``/``neo4j://…`` for Neo4j, a folder path for LadybugDB.

    Nothing is contacted until the first query.
    """
    uri = resolve_uri(uri)
    if uri.startswith(NEO4J_SCHEMES):
        from .neo4j import Neo4jStore

        return Neo4jStore(uri, read_only=read_only)
    from .ladybug import LadybugStore

    return LadybugStore(Path(uri.removeprefix("ladybug://")), read_only=read_only)


__all__ = ["QueryResult", "Store", "open_store", "resolve_uri"]

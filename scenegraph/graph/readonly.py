"""The first of two guards on read-only Cypher: a lexical check shared by both stores.

The second guard belongs to each store (a read-only transaction in LadybugDB; READ access mode
plus an ``EXPLAIN`` that must report a read query in Neo4j). This one refuses, before anything
reaches a database, every clause that writes, reads files, changes the schema, or manages the
DBMS — including ones a read-only transaction lets through (``LOAD FROM`` and ``EXPORT DATABASE``
in LadybugDB, ``LOAD CSV`` in Neo4j) — and more than one statement at a time.
"""

from __future__ import annotations

import re

from ..errors import ReadOnlyViolation

WRITE_KEYWORDS = frozenset(
    {
        "CREATE",
        "MERGE",
        "SET",
        "DELETE",
        "DETACH",
        "REMOVE",
        "DROP",
        "ALTER",
        "FOREACH",
        "LOAD",
        "COPY",
        "IMPORT",
        "EXPORT",
        "INSTALL",
        "ATTACH",
        "USE",
        "CHECKPOINT",
        "GRANT",
        "REVOKE",
        "DENY",
        "TERMINATE",
        "RENAME",
        "FINISH",
    }
)
# Table functions of LadybugDB that only describe the schema.
READ_PROCEDURES = frozenset({"show_tables", "table_info"})

_NOISE = re.compile(
    r"""//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|`[^`]*`""",
    re.DOTALL,
)
_WORD = re.compile(r"(?<![.:$\w])([A-Za-z_][\w]*)")
_CALL = re.compile(r"\bCALL\s+([\w.]+)", re.IGNORECASE)


def check_read_only(statement: str) -> None:
    """Raise ``ReadOnlyViolation`` unless ``statement`` is a single read-only query."""
    bare = _NOISE.sub(" ", statement).strip().rstrip(";").strip()
    if ";" in bare:
        raise ReadOnlyViolation("refused: one statement at a time on the read-only path")
    for word in _WORD.findall(bare):
        if word.upper() in WRITE_KEYWORDS:
            raise ReadOnlyViolation(
                f"refused: {word.upper()} writes or reaches outside the graph; "
                "run it with --write (CLI) if you mean to change the store"
            )
    for procedure in _CALL.findall(bare):
        if procedure not in READ_PROCEDURES:
            raise ReadOnlyViolation(
                f"refused: CALL {procedure} is not on the read-only list "
                f"({', '.join(sorted(READ_PROCEDURES))})"
            )

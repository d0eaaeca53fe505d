"""The graph's shape, read from the packaged ``resources/cypher/schema.ladybug.cypher`` so it is
declared once (the checkout's top-level ``cypher/`` is a link to that folder).

Both stores use it: LadybugDB to create its tables and to give every batched row the same keys,
Neo4j to know each label's key property and to whitelist labels and relationship types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

# Inside the package, so an installed wheel has it; a real folder for any ordinary install.
CYPHER_DIR = files("scenegraph") / "resources" / "cypher"

_NODE = re.compile(r"CREATE NODE TABLE IF NOT EXISTS (\w+)\((.*)\);")
_REL = re.compile(r"CREATE REL TABLE IF NOT EXISTS (\w+)\(FROM (\w+) TO (\w+)(?:, (.*))?\);")


@dataclass(frozen=True)
class NodeTable:
    label: str
    key: str
    columns: dict[str, str]  # property -> LadybugDB type, key included


@dataclass(frozen=True)
class RelTable:
    type: str
    source: str
    target: str
    columns: dict[str, str]


@dataclass(frozen=True)
class Schema:
    nodes: dict[str, NodeTable]
    rels: dict[str, RelTable]

    def key_of(self, label: str) -> str:
        return self.nodes[label].key


def statements(path: Path | Traversable) -> list[str]:
    """The statements of a .cypher file: comments dropped, split on ';'."""
    lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("//")
    ]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _columns(spec: str) -> tuple[dict[str, str], str | None]:
    columns: dict[str, str] = {}
    key = None
    for part in spec.split(","):
        words = part.split()
        if not words:
            continue
        columns[words[0]] = words[1]
        if "PRIMARY" in words:
            key = words[0]
    return columns, key


@cache
def schema() -> Schema:
    nodes: dict[str, NodeTable] = {}
    rels: dict[str, RelTable] = {}
    for statement in statements(CYPHER_DIR / "schema.ladybug.cypher"):
        statement += ";"
        if match := _NODE.fullmatch(statement):
            columns, key = _columns(match.group(2))
            assert key, f"node table {match.group(1)} has no primary key"
            nodes[match.group(1)] = NodeTable(match.group(1), key, columns)
        elif match := _REL.fullmatch(statement):
            columns, _ = _columns(match.group(4) or "")
            rels[match.group(1)] = RelTable(match.group(1), match.group(2), match.group(3), columns)
    return Schema(nodes, rels)

"""The layering the architecture promises, checked on the source itself.

- Only ``scenegraph/graph/`` writes Cypher or asks which backend it talks to.
- ``scenegraph/quality/`` does not import ``scenegraph/generation/`` (both use ``llm/``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scenegraph"
# A string that starts a Cypher statement, as the package writes its queries (help texts and
# messages that quote an example query start otherwise; SQL's CREATE TABLE has no parenthesis).
CYPHER = re.compile(
    r"^\s*(?:(?:OPTIONAL\s+)?MATCH|MERGE|CREATE)\s*\(|^\s*UNWIND\s+\$|^\s*(?:CALL|RETURN)\s+\S"
)


def modules(under: str = "") -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py"))


def outside_graph() -> list[Path]:
    return [p for p in modules() if "graph" not in p.relative_to(PACKAGE).parts[:1]]


def strings(tree: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_the_pattern_finds_cypher():
    """The check below is only as good as this pattern: it must see the package's own queries."""
    found = [
        p
        for p in modules("graph")
        if any(CYPHER.search(s.value) for s in strings(ast.parse(p.read_text())))
    ]
    assert {p.name for p in found} >= {"base.py", "ladybug.py", "explorer.py", "export.py"}


def test_only_the_graph_layer_writes_cypher():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}"
        for path in outside_graph()
        for node in strings(ast.parse(path.read_text()))
        if CYPHER.search(node.value)
    ]
    assert not offenders, "Cypher outside scenegraph/graph/:\n" + "\n".join(offenders)


def test_only_the_graph_layer_branches_on_the_backend():
    offenders = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in outside_graph()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Compare)
        and any(
            isinstance(part, ast.Attribute) and part.attr == "dialect"
            for part in [node.left, *node.comparators]
        )
    ]
    assert not offenders, "backend tests outside scenegraph/graph/: " + ", ".join(offenders)


def imported(path: Path) -> set[str]:
    """Absolute names of the scenegraph modules a file imports."""
    package = ["scenegraph", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_quality_does_not_import_generation():
    offenders = [
        f"{p.relative_to(PACKAGE)} imports {name}"
        for p in modules("quality")
        for name in imported(p)
        if name.startswith("scenegraph.generation")
    ]
    assert not offenders, offenders


def test_the_import_reader_sees_relative_imports():
    judge = PACKAGE / "quality" / "judge.py"
    assert any(name.startswith("scenegraph.") for name in imported(judge))

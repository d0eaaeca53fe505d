"""Printing results: a table for people, JSON for programs (``--json``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console(soft_wrap=False)
err_console = Console(stderr=True)


def print_json(value: Any) -> None:
    data = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def print_table(
    columns: list[str], rows: Iterable[Iterable[Any]], title: str | None = None
) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def _cell(value: Any) -> Text:
    """Cell text taken literally: corpus and model text never reaches rich's markup parser."""
    if value is None:
        return Text("")
    if isinstance(value, (dict, list)):
        return Text(orjson.dumps(value, default=str).decode())
    return Text(str(value))

"""The `scenegraph` command: a thin layer over the library. Each command parses its options,
calls one library function and prints the result (a table, or JSON with ``--json``).

This module holds the group and what commands share; the commands live one module per concern
and register themselves on import (listed at the bottom).
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import __version__
from ..errors import ConfigError, CorpusError, SceneGraphError
from ..graph import open_store, resolve_uri
from ..output import err_console

M = TypeVar("M", bound=BaseModel)


class Group(click.Group):
    """Turns scenegraph's own errors into one line each and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SceneGraphError as exc:
            lines = exc.problems if isinstance(exc, CorpusError) else [str(exc)]
            for line in lines:
                err_console.print(f"Error: {line}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(1)


def options_from(shape: type[M], /, **values: Any) -> M:
    """Build an options model from command-line values; a refusal becomes one ``ConfigError``
    line naming each option (``--max-per-cell: …``), as the user typed it."""
    try:
        return shape(**values)
    except ValidationError as exc:
        raise ConfigError("; ".join(map(_option_problem, exc.errors(include_url=False)))) from None


def _option_problem(error: ErrorDetails) -> str:
    option, *inside = error["loc"] or ("options",)
    place = str(option).replace("_", "-") + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in inside
    )
    return f"--{place}: {str(error['msg']).removeprefix('Value error, ')}"


def default_text(shape: type[BaseModel], name: str) -> str:
    """An options model's default as it is typed on the command line (lists joined by commas;
    ``none`` when it is unset or empty): `--help` shows the model's own defaults."""
    value = shape.model_fields[name].get_default(call_default_factory=True)
    if isinstance(value, list | tuple):
        value = ",".join(map(str, value))
    return "none" if value in (None, "") else str(value)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def progress_bar(description: str, total: int | None = None):
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_uri",
    envvar="SCENEGRAPH_STORE",
    default=None,
    metavar="URI",
    help="Folder of the embedded store (default ./.scenegraph) or bolt://… / "
    "neo4j://… for Neo4j (auth from NEO4J_USER / NEO4J_PASSWORD). "
    "Env: SCENEGRAPH_STORE.",
)
@click.version_option(__version__, prog_name="scenegraph")
@click.pass_context
def cli(ctx: click.Context, store_uri: str | None) -> None:
    """Scenes as a fractal graph, turned into LoRA/QLoRA training data.

    \b
    Example:
      scenegraph load seeds/ && scenegraph stats
    """
    ctx.obj = resolve_uri(store_uri)


def open_for(ctx: click.Context, read_only: bool = False):
    store = open_store(ctx.obj, read_only=read_only)
    ctx.call_on_close(store.close)
    return store


def main() -> None:
    cli(prog_name="scenegraph")


# Command modules: importing one adds its commands to `cli`.
from . import check, demo, embed, evaluate, export, generate, graph, serve, train  # noqa: E402,F401

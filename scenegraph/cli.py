"""The `scenegraph` command: a thin layer over the library. Each command parses its options,
calls one library function and prints the result (a table, or JSON with ``--json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .errors import CorpusError, SceneGraphError
from .output import console, err_console, print_json, print_table
from .store import open_store, resolve_uri

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


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


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def progress_bar(description: str, total: int | None = None):
    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=True,
                    disable=not err_console.is_terminal)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_uri", envvar="SCENEGRAPH_STORE", default=None, metavar="URI",
              help="Folder of the embedded store (default ./.scenegraph) or bolt://… / "
                   "neo4j://… for Neo4j (auth from NEO4J_USER / NEO4J_PASSWORD). "
                   "Env: SCENEGRAPH_STORE.")
@click.version_option(__version__, prog_name="scenegraph")
@click.pass_context
def cli(ctx: click.Context, store_uri: str | None) -> None:
    """Scenes as a fractal graph, turned into LoRA/QLoRA training data.

    \b
    Example:
      scenegraph load seeds/ && scenegraph stats
    """
    ctx.obj = resolve_uri(store_uri)


def _store(ctx: click.Context, read_only: bool = False):
    store = open_store(ctx.obj, read_only=read_only)
    ctx.call_on_close(store.close)
    return store


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the store's schema (tables, constraints, indexes); safe to run again.

    \b
    Example:
      scenegraph --store ./my-graph init
    """
    _store(ctx).init_schema()
    console.print(f"store ready: {ctx.obj}", markup=False)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--skip-bad", is_flag=True,
              help="Load the good records; write the bad ones with reasons to --rejects.")
@click.option("--rejects", type=click.Path(dir_okay=False), default="scenegraph.rejects.jsonl",
              show_default=True, help="Where --skip-bad writes rejected records.")
@json_option
@click.pass_context
def load(ctx: click.Context, paths: tuple[str, ...], skip_bad: bool, rejects: str,
         as_json: bool) -> None:
    """Load corpus files or folders (JSONL, JSON, YAML); all or nothing unless --skip-bad.

    \b
    Example:
      scenegraph load seeds/
      scenegraph load corpus.jsonl --skip-bad --rejects bad.jsonl
    """
    from .load import load_corpus

    store = _store(ctx)
    with progress_bar("writing") as bar:
        task = bar.add_task("writing", total=None)
        report = load_corpus(store, paths, skip_bad=skip_bad, rejects_file=rejects,
                             progress=lambda n: bar.advance(task, n))
    if as_json:
        return print_json(report)
    console.print(f"loaded {report.records} records from {report.files} files: "
                  f"{report.scenes} scenes, {report.expressions} expressions", markup=False)
    if report.rejected:
        console.print(f"rejected {report.rejected} records, reasons in {report.rejects_file}",
                      markup=False)
    print_table(["label or type", "count"], report.counts.items())


@cli.command()
@json_option
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Count nodes per label and relationships per type.

    \b
    Example:
      scenegraph stats --json
    """
    counts = _store(ctx, read_only=True).counts()
    if as_json:
        return print_json(counts)
    print_table(["label or type", "count"], counts.items(), title=str(ctx.obj))


def _param(values: tuple[str, ...]) -> dict[str, Any]:
    params = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


@cli.command()
@click.argument("query")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="Query parameter ($NAME); VALUE is JSON when it parses, else a string.")
@click.option("--write", is_flag=True, help="Allow statements that change the store.")
@json_option
@click.pass_context
def cypher(ctx: click.Context, query: str, params: tuple[str, ...], write: bool,
           as_json: bool) -> None:
    """Run a Cypher query; read-only unless --write.

    \b
    Example:
      scenegraph cypher "MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: \\$a}) RETURN s.id" -p a=порог
    """
    result = _store(ctx, read_only=not write).run(query, _param(params), write=write)
    if as_json:
        return print_json(result.dicts())
    print_table(result.columns, result.rows)


@cli.group()
def hyperlexeme() -> None:
    """Compose a scene's fused hyperlexeme, or parse a fused word into components."""


@hyperlexeme.command("compose")
@click.argument("scene_id")
@json_option
@click.pass_context
def hyperlexeme_compose(ctx: click.Context, scene_id: str, as_json: bool) -> None:
    """The fused hyperlexeme of a scene's components.

    \b
    Example:
      scenegraph hyperlexeme compose Δ17
    """
    from .hyperlexeme import compose
    from .text import nfc

    scene = _store(ctx.find_root(), read_only=True).scene(nfc(scene_id))
    if scene is None:
        raise SceneGraphError(f"no scene {scene_id!r} in {ctx.find_root().obj}")
    form = compose(scene)
    print_json({"scene": scene.id, "hyperlexeme": form}) if as_json else click.echo(form)


@hyperlexeme.command("parse")
@click.argument("word")
@click.option("-k", default=5, show_default=True, help="How many segmentations to keep.")
@json_option
@click.pass_context
def hyperlexeme_parse(ctx: click.Context, word: str, k: int, as_json: bool) -> None:
    """Segment a fused word into known component names and find the scenes it names.

    \b
    Example:
      scenegraph hyperlexeme parse жартишинавход
    """
    from .hyperlexeme import parse_in_store

    result = parse_in_store(_store(ctx.find_root(), read_only=True), word, k)
    if as_json:
        return print_json(result)
    if result.named_scenes:
        console.print(f"stored hyperlexeme of: {', '.join(result.named_scenes)}", markup=False)
    print_table(["cost", "segments", "scenes"], (
        (c.cost, " + ".join(f"{s.text}→{s.name or '?'}" for s in c.segments),
         ", ".join(f"{m.id} ({m.covered:.0%})" for m in c.scenes[:5]))
        for c in result.candidates))


@cli.command()
@click.option("--seeds", type=click.Path(exists=True), default=str(SEEDS), show_default=True,
              help="Corpus to load.")
@click.pass_context
def demo(ctx: click.Context, seeds: str) -> None:
    """The whole path on the bundled seeds: init, load, stats.

    \b
    Example:
      scenegraph --store /tmp/demo-graph demo
    """
    from .load import load_corpus

    store = _store(ctx)
    store.init_schema()
    report = load_corpus(store, [seeds])
    console.print(f"loaded {report.records} records: {report.scenes} scenes, "
                  f"{report.expressions} expressions into {ctx.obj}", markup=False)
    print_table(["label or type", "count"], report.counts.items(), title="graph")


def main() -> None:
    cli(prog_name="scenegraph")


if __name__ == "__main__":
    main()

"""Commands over the graph itself: init, load, stats, cypher, hyperlexeme."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import SceneGraphError
from ..output import console, print_json, print_table
from . import cli, json_option, open_for, progress_bar


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the store's schema (tables, constraints, indexes); safe to run again.

    \b
    Example:
      scenegraph --store ./my-graph init
    """
    open_for(ctx).init_schema()
    console.print(f"store ready: {ctx.obj}", markup=False)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Load the good records; write the bad ones with reasons to --rejects.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    default="scenegraph.rejects.jsonl",
    show_default=True,
    help="Where --skip-bad writes rejected records.",
)
@json_option
@click.pass_context
def load(
    ctx: click.Context, paths: tuple[str, ...], skip_bad: bool, rejects: str, as_json: bool
) -> None:
    """Load corpus files or folders (JSONL, JSON, YAML); all or nothing unless --skip-bad.

    \b
    Example:
      scenegraph load seeds/
      scenegraph load corpus.jsonl --skip-bad --rejects bad.jsonl
    """
    from ..load import load_corpus

    store = open_for(ctx)
    with progress_bar("writing") as bar:
        task = bar.add_task("writing", total=None)
        report = load_corpus(
            store,
            paths,
            skip_bad=skip_bad,
            rejects_file=rejects,
            progress=lambda n: bar.advance(task, n),
        )
    if as_json:
        return print_json(report)
    console.print(
        f"loaded {report.records} records from {report.files} files: "
        f"{report.scenes} scenes, {report.expressions} expressions",
        markup=False,
    )
    if report.rejected:
        console.print(
            f"rejected {report.rejected} records, reasons in {report.rejects_file}", markup=False
        )
    print_table(["label or type", "count"], report.counts.items())
    if report.unknown_labels:
        print_table(
            ["unknown label (loaded as given)", "expressions"],
            report.unknown_labels.items(),
            title="labels neither canonical nor an alias in the defaults' vocabulary",
        )


@cli.command()
@json_option
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Count nodes per label and relationships per type.

    \b
    Example:
      scenegraph stats --json
    """
    counts = open_for(ctx, read_only=True).counts()
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
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Query parameter ($NAME); VALUE is JSON when it parses, else a string.",
)
@click.option("--write", is_flag=True, help="Allow statements that change the store.")
@json_option
@click.pass_context
def cypher(
    ctx: click.Context, query: str, params: tuple[str, ...], write: bool, as_json: bool
) -> None:
    """Run a Cypher query; read-only unless --write.

    \b
    Example:
      scenegraph cypher "MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: \\$a}) RETURN s.id" -p a=порог
    """  # noqa: E501 -- --help shows the example verbatim (click's \b block), one command a line
    from ..graph.query import user_query

    result = user_query(open_for(ctx, read_only=not write), query, _param(params), write=write)
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
    from ..hyperlexeme import compose
    from ..text import nfc

    scene = open_for(ctx.find_root(), read_only=True).scene(nfc(scene_id))
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
    from ..hyperlexeme import parse_in_store

    result = parse_in_store(open_for(ctx.find_root(), read_only=True), word, k)
    if as_json:
        return print_json(result)
    if result.named_scenes:
        console.print(f"stored hyperlexeme of: {', '.join(result.named_scenes)}", markup=False)
    print_table(
        ["cost", "segments", "scenes"],
        (
            (
                c.cost,
                " + ".join(f"{s.text}→{s.name or '?'}" for s in c.segments),
                ", ".join(f"{m.id} ({m.covered:.0%})" for m in c.scenes[:5]),
            )
            for c in result.candidates
        ),
    )


@cli.command("copy")
@click.option("--from", "source", required=True, metavar="URI", help="Store to read.")
@click.option("--to", "target", required=True, metavar="URI", help="Store to write.")
@click.option("--batch-size", default=5_000, show_default=True, help="Rows per write.")
@json_option
def copy_command(source: str, target: str, batch_size: int, as_json: bool) -> None:
    """Copy a whole graph between stores (embedded → Neo4j when a laptop is outgrown).

    \b
    Example:
      scenegraph copy --from .scenegraph --to bolt://127.0.0.1:7687
    """
    from ..graph import open_store
    from ..graph.copy import copy_graph

    with (
        open_store(source, read_only=True) as src,
        open_store(target) as dst,
        progress_bar("copying") as bar,
    ):
        task = bar.add_task("copying", total=sum(src.counts().values()))
        counts = copy_graph(src, dst, batch_size, progress=lambda n: bar.advance(task, n))
    if as_json:
        return print_json(counts)
    print_table(["label or type", "count"], counts.items(), title=f"copied to {target}")

"""`scenegraph demo`: the whole path on the bundled seeds."""

from __future__ import annotations

from pathlib import Path

import click

from ..output import console, print_table
from . import cli, open_for

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "corpus"


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
    from ..load import load_corpus

    store = open_for(ctx)
    store.init_schema()
    report = load_corpus(store, [seeds])
    console.print(f"loaded {report.records} records: {report.scenes} scenes, "
                  f"{report.expressions} expressions into {ctx.obj}", markup=False)
    print_table(["label or type", "count"], report.counts.items(), title="graph")

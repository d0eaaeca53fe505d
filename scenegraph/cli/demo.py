"""`scenegraph demo`: the whole path on the bundled seeds, one command after another."""

from __future__ import annotations

from contextlib import nullcontext
from importlib.resources import as_file, files
from pathlib import Path

import click

from ..output import console
from . import check, cli, embed, export, generate, graph

SEEDS = files("scenegraph") / "resources" / "seeds" / "corpus"  # packaged: wheels carry it
DEMO_SCENE = "Δ101"  # an English scene with a near-paraphrase twin (Δ102)


def _step(title: str) -> None:
    console.rule(title, style="cyan")


@cli.command()
@click.option(
    "--seeds",
    type=click.Path(exists=True),
    default=None,
    show_default="the bundled corpus",
    help="Corpus to load.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="out",
    show_default=True,
    help="Folder for the check report and the exported dataset.",
)
@click.pass_context
def demo(ctx: click.Context, seeds: str | None, out: str) -> None:
    """The whole path on the bundled seeds, offline: load, embed, neighbours, generate with
    the template provider (no model), check, export.

    \b
    Example:
      scenegraph --store /tmp/demo-graph demo --out /tmp/demo-out
    """
    _step("load the seeds")
    with nullcontext(Path(seeds)) if seeds else as_file(SEEDS) as corpus:
        ctx.invoke(graph.load, paths=(str(corpus),))
    _step("embed scenes and expressions")
    ctx.invoke(embed.embed)
    _step(f"neighbours of {DEMO_SCENE}, by meaning and by structure")
    ctx.invoke(embed.neighbours, scene_id=DEMO_SCENE, k=5, by="both")
    _step("generate with the offline template provider")
    ctx.invoke(generate.generate, provider="template", registers="poetry,logic")
    _step("check the four rules")
    ctx.invoke(check.check, out_dir=Path(out) / "check")
    _step("export the training set")
    ctx.invoke(
        export.export,
        out=str(Path(out) / "demo-dataset"),
        directions="forward,reverse,transfer",
        force=True,
    )
    console.print(
        f"dataset written to {Path(out) / 'demo-dataset'}; report at "
        f"{Path(out) / 'check' / 'report.html'}",
        markup=False,
    )

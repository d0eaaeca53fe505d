"""`scenegraph export`: a subgraph as training sets for adapter fine-tuning."""

from __future__ import annotations

import click

from ..export.options import ExportOptions
from ..models import FORMS
from ..output import console, print_json, print_table
from . import cli, default_text, json_option, open_for, options_from, progress_bar


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _ratios(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _names(value))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not three numbers like 0.8,0.1,0.1", param_hint="--split"
        ) from None


def _options(**values) -> ExportOptions:
    return options_from(ExportOptions, **values)


@cli.command("export")
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--select",
    metavar="CYPHER",
    help="Read-only Cypher whose first column is scene ids (or scene nodes).",
)
@click.option(
    "--scene",
    "scene_ids",
    multiple=True,
    metavar="ID",
    help="A scene to export (repeatable); with --select, both are taken.",
)
@click.option(
    "--no-subtree",
    is_flag=True,
    help="Leave out the sub-scenes of the selected scenes (they come along otherwise).",
)
@click.option(
    "--archetype",
    "archetypes",
    multiple=True,
    help="Keep selected scenes evoking this archetype (repeatable).",
)
@click.option(
    "--style", "styles", multiple=True, help="Only expressions in this style (repeatable)."
)
@click.option("--register", "registers", multiple=True, help="Only this register (repeatable).")
@click.option("--tone", "tones", multiple=True, help="Only this tone (repeatable).")
@click.option(
    "--form", "forms", multiple=True, type=click.Choice(FORMS), help="Only this form (repeatable)."
)
@click.option(
    "--include-failed",
    is_flag=True,
    help="Also expressions whose quality checks failed (passed = false). Expressions "
    "not checked yet (passed unset) are always included; superseded ones never.",
)
@click.option(
    "--directions",
    default=default_text(ExportOptions, "directions"),
    show_default=True,
    help="Comma list of forward (scene → expression), reverse (expression → scene "
    "JSON), transfer (style A → style B).",
)
@click.option(
    "--formats",
    default=default_text(ExportOptions, "formats"),
    show_default=True,
    help="Comma list of output formats.",
)
@click.option(
    "--split",
    "split",
    default=default_text(ExportOptions, "split"),
    show_default=True,
    help="train,validation,test ratios; grouped by fractal tree, stratified by style.",
)
@click.option(
    "--seed",
    type=int,
    default=default_text(ExportOptions, "seed"),
    show_default=True,
    help="Seed of the split and of the row order (rows are shuffled within each split).",
)
@click.option("--by-style", is_flag=True, help="One dataset per style (one adapter per role).")
@click.option(
    "--min-style-rows",
    type=click.IntRange(min=0),
    default=default_text(ExportOptions, "min_style_rows"),
    show_default=True,
    help="With --by-style, styles with fewer training rows go together into one 'other' "
    "dataset (OpenAI's minimum is 10 examples); 0 keeps every style on its own.",
)
@click.option(
    "--max-per-cell",
    type=click.IntRange(min=1),
    help="At most N pairs per direction × style × register × tone, shared out "
    "over the splits by their ratios; which pairs stay depends on --seed.",
)
@click.option(
    "--compress",
    type=click.Choice(["none", "zstd"]),
    default=default_text(ExportOptions, "compress"),
    show_default=True,
    help="zstd: JSONL as .jsonl.zst, Parquet zstd-compressed.",
)
@click.option(
    "--name",
    default=default_text(ExportOptions, "name"),
    show_default=True,
    help="Dataset name (card title, LLaMA-Factory entry prefix).",
)
@click.option("--license", help="License named in the dataset card.")
@click.option("--force", is_flag=True, help="Replace OUT if it already holds files.")
@json_option
@click.pass_context
def export(
    ctx: click.Context,
    out: str,
    select: str | None,
    scene_ids: tuple[str, ...],
    no_subtree: bool,
    archetypes,
    styles,
    registers,
    tones,
    forms,
    include_failed: bool,
    directions: str,
    formats: str,
    split: str,
    seed: int,
    by_style: bool,
    min_style_rows: int,
    max_per_cell: int | None,
    compress: str,
    name: str,
    license: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Export a subgraph as training sets: pairs in chat formats, prompt-completion, Parquet,
    `datasets`, and the corpus records, split by fractal tree and shuffled within each split
    by the seed, with manifest.json and a dataset card.

    Only expressions that did not fail their checks are exported (see --include-failed).

    \b
    Example:
      scenegraph export out/dataset --directions forward,reverse,transfer
      scenegraph export out/poets --style поэт --formats openai --split 0.9,0.1,0
      scenegraph export out/threshold --select "MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: 'порог'}) RETURN s.id"
    """  # noqa: E501 -- --help shows the example verbatim (click's \b block), one command a line
    from ..export import export_dataset

    options = _options(
        select=select,
        scene_ids=list(scene_ids),
        subtree=not no_subtree,
        archetypes=list(archetypes),
        styles=list(styles),
        registers=list(registers),
        tones=list(tones),
        forms=list(forms),
        include_failed=include_failed,
        directions=_names(directions),
        formats=_names(formats),
        split=_ratios(split),
        seed=seed,
        by_style=by_style,
        min_style_rows=min_style_rows,
        max_per_cell=max_per_cell,
        compress=None if compress == "none" else compress,
        name=name,
        license=license,
        overwrite=force,
    )
    store = open_for(ctx, read_only=True)
    with progress_bar("exporting scenes") as bar:
        task = bar.add_task("exporting", total=None)
        manifest = export_dataset(store, out, options, progress=lambda n: bar.advance(task, n))
    if as_json:
        return print_json(manifest)
    counts = manifest.counts
    rows = [
        (split_name, *(by_dir.get(d, 0) for d in options.directions), counts.by_split[split_name])
        for split_name, by_dir in counts.by_split_direction.items()
    ]
    print_table(["split", *options.directions, "pairs"], rows, title=out)
    leakage = manifest.leakage
    console.print(
        f"{counts.pairs} pairs from {manifest.selection['scenes']} scenes in "
        f"{len(manifest.outputs)} files; scenes in several splits: "
        f"{leakage.scenes_in_several_splits}; written to {out}",
        markup=False,
    )
    for warning in manifest.warnings:
        console.print(f"warning: {warning}", markup=False)

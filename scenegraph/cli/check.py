"""`scenegraph check`: the four rules, the dataset metrics, the HTML report, compression."""

from __future__ import annotations

from pathlib import Path

import click

from ..output import console, print_json, print_table
from ..quality.options import JudgeOptions
from . import cli, default_text, json_option, open_for, options_from, progress_bar

LINKAGE_SHOWN = 10


@cli.command()
@click.option(
    "--model",
    envvar="SCENEGRAPH_EMBED_MODEL",
    default=None,
    metavar="MODEL",
    help="Embedding model for new vectors (default: the one the indexes were built "
    "with). Env: SCENEGRAPH_EMBED_MODEL.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("scenegraph-check"),
    show_default=True,
    help="Folder for report.html (and compressed.json with --compress).",
)
@click.option("--no-report", is_flag=True, help="Write no HTML report.")
@click.option(
    "--compress",
    metavar="N|P%",
    default=None,
    help="Also select N (or P% of the) accepted expressions that keep every scene "
    "and style and the most variety; their ids go to compressed.json.",
)
@click.option(
    "--judge",
    is_flag=True,
    help="Also score each accepted expression with an LLM judge (OpenAI-compatible; "
    "answers cached in the store's journal).",
)
@click.option(
    "--judge-model",
    default=default_text(JudgeOptions, "model"),
    show_default=True,
    help="Judge model.",
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    default=None,
    help="Judge endpoint (vLLM, Ollama, …). Env: OPENAI_BASE_URL.",
)
@click.option(
    "--api-key-env",
    default=default_text(JudgeOptions, "api_key_env"),
    show_default=True,
    help="Environment variable holding the judge's API key.",
)
@click.option(
    "--concurrency",
    default=default_text(JudgeOptions, "concurrency"),
    show_default=True,
    type=click.IntRange(1),
    help="Judge requests in flight.",
)
@click.option("--force", is_flag=True, help="Check everything again even if nothing changed.")
@json_option
@click.pass_context
def check(
    ctx: click.Context,
    model: str | None,
    out_dir: Path,
    no_report: bool,
    compress: str | None,
    judge: bool,
    judge_model: str,
    base_url: str | None,
    api_key_env: str,
    concurrency: int,
    force: bool,
    as_json: bool,
) -> None:
    """Check every expression against the four rules of a good scene ⇄ replica pair.

    Lived, not explained; no redundancy (structure restated, near-duplicates); keeps the
    voice (own scene, requested register and tone); and, per scene, many forms, one linkage.
    Verdicts are stored on each Expression (`quality`, `passed`; `export` leaves failed ones
    out). Prints a summary, writes an offline HTML report with plots. A second run over an
    unchanged graph checks and writes nothing.

    \b
    Example:
      scenegraph check
      scenegraph check --compress 50% --out ./check --json
      scenegraph check --judge --judge-model gpt-4o-mini --base-url http://localhost:8000/v1
    """
    from ..quality import CheckOptions, run_checks

    judge_options = (
        options_from(
            JudgeOptions,
            model=judge_model,
            base_url=base_url,
            api_key_env=api_key_env,
            concurrency=concurrency,
        )
        if judge
        else None
    )
    options = options_from(
        CheckOptions,
        model=model,
        report_dir=None if no_report else out_dir,
        compress=compress,
        force=force,
        judge=judge_options,
    )
    store = open_for(ctx)
    with progress_bar("{task.description}") as bar:
        task = bar.add_task("checking", total=None)
        report = run_checks(
            store,
            options,
            lambda p: bar.update(task, description=p.phase, completed=p.done, total=p.total),
        )
    if as_json:
        return print_json(report)
    show_summary(report)


def show_summary(report) -> None:
    """The run's summary as tables: counts, rules, metrics, linkage, compression, files."""
    m, link = report.metrics, report.linkage
    print_table(
        ["expressions", "accepted", "failed", "new or changed", "checked", "written"],
        [
            (
                report.expressions,
                report.passed,
                report.failed,
                report.changed,
                report.checked,
                report.written,
            )
        ],
        title=f"check of {report.store}",
    )
    print_table(
        ["rule", "checked", "passed", "failed", "n/a", "why they failed"],
        [
            (
                r.rule,
                r.checked,
                r.passed,
                r.failed,
                r.skipped,
                ", ".join(f"{code} {n}" for code, n in r.reasons.items()),
            )
            for r in report.rules
        ],
    )
    separability = m.separability
    print_table(
        ["metric", "value"],
        [
            (
                "scene recoverability top-1 / top-5",
                f"{_pct(m.recoverability.top1)} / {_pct(m.recoverability.top5)}",
            ),
            (
                "style separability (chance)",
                f"{_pct(separability.accuracy)} ({_pct(separability.chance)})",
            ),
            ("duplicate rate", _pct(m.duplicate_rate)),
            ("distinct-1 / distinct-2", f"{m.distinct_1:.3f} / {m.distinct_2:.3f}"),
            ("many forms, one linkage: scenes", f"{link.scenes_ok} of {link.scenes}"),
            (
                "many forms, one linkage: hyperlexemes",
                f"{link.hyperlexemes_ok} of {link.hyperlexemes}",
            ),
        ],
        title="dataset",
    )
    if link.below:
        print_table(
            ["kind", "id", "accepted", "forms", "registers", "status"],
            [
                (r.kind, r.id, r.accepted, ", ".join(r.forms), ", ".join(r.registers), r.status)
                for r in link.below[:LINKAGE_SHOWN]
            ],
            title=f"below many forms, one linkage (first {LINKAGE_SHOWN} of {len(link.below)})",
        )
    if c := report.compression:
        print_table(
            ["kept", "after", "before"],
            [
                ("expressions", len(c.selected), c.accepted),
                ("scenes", *c.scenes),
                ("styles", *c.styles),
                ("scene × style", *c.scene_styles),
                ("forms", *c.forms),
                ("registers", *c.registers),
            ],
            title=f"compression: diversity kept {_pct(c.diversity)}, distinct-2 "
            f"{_pct(c.distinct_2)}",
        )
    files = [
        ("report", report.report_file),
        ("compressed selection", report.compression and report.compression.file),
    ]
    for line in report.notes + [f"{what}: {path}" for what, path in files if path]:
        console.print(line, markup=False, highlight=False)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"

"""`evaluate`: a model on an export's held-out split, scored on the source's three claims;
`--compare` puts saved runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..evaluate.options import EvaluateOptions
from ..output import err_console, print_json, print_table
from . import cli, default_text, json_option, options_from, progress_bar


def _default(name: str) -> str:
    """The note of a default in `--help`, from ``EvaluateOptions``."""
    return f"[{default_text(EvaluateOptions, name)}]"


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--reference", is_flag=True, help="Answer with the held-out texts (upper bound).")
@click.option("--template", is_flag=True, help="The offline template provider (lower bound).")
@click.option(
    "--hf-model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A local Hugging Face model folder (transformers; CPU or CUDA).",
)
@click.option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A PEFT (LoRA) adapter folder for --hf-model.",
)
@click.option("--device", help="Device for --hf-model (cpu, cuda…). [CUDA when available]")
@click.option(
    "--provider",
    type=click.Choice(["openai", "anthropic"]),
    help="A provider of the generation layer; a LoRA served by vLLM is a --model there.",
)
@click.option("--model", envvar="SCENEGRAPH_MODEL", help="Model name for --provider.")
@click.option("--base-url", help="Endpoint, e.g. http://127.0.0.1:8000/v1.")
@click.option("--api-key-env", metavar="VAR", help="Environment variable holding the API key.")
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    help="Most tokens per answer. " + _default("max_tokens"),
)
@click.option("--split", help="The split to evaluate. " + _default("split"))
@click.option(
    "--dataset",
    help="Only the held-out rows of this dataset of a --by-style export (its name under styles/).",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many items per direction.")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where answers are journaled. [EXPORT.evaluate.sqlite beside the export]",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    help="Requests in flight. " + _default("concurrency"),
)
@click.option(
    "--retries", type=click.IntRange(min=0), help="Retries per request. " + _default("retries")
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per request. " + _default("timeout_s"),
)
@click.option("--embedding-model", help="Embedding model for recoverability and similarity.")
@click.option("--compare", is_flag=True, help="PATHS are result files (--out) to put side by side.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the result JSON here."
)
@click.option(
    "--html", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here."
)
@json_option
def evaluate(
    paths: tuple[Path, ...],
    compare: bool,
    out: Path | None,
    html: Path | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Score a model on an export's held-out split: does it speak scenes, give one meaning
    many forms, keep content apart from register? Resumable: answers are journaled.

    \b
    Example:
      scenegraph evaluate out/dataset --reference --out reference.json
      scenegraph evaluate out/dataset --template --out template.json
      scenegraph evaluate out/dataset --hf-model Qwen2.5-0.5B-Instruct --adapter lora/ \\
          --out lora.json
      OPENAI_API_KEY=… scenegraph evaluate out/dataset --provider openai \\
          --base-url http://127.0.0.1:8000/v1 --model my-lora --out vllm.json
      scenegraph evaluate --compare reference.json template.json lora.json --html report.html
    """
    from ..evaluate import evaluate_export, write_report
    from ..evaluate.report import read_results

    if compare:
        if not paths or html is None:
            raise ConfigError("--compare needs result files (written with --out) and --html")
        runs = read_results(list(paths))
        write_report(html, runs)
        _print_runs(runs, as_json)
        return
    if len(paths) != 1 or not paths[0].is_dir():
        raise ConfigError(
            "name one export folder (written by `scenegraph export`), or --compare result files"
        )
    options = options_from(EvaluateOptions, **{k: v for k, v in given.items() if v})
    with progress_bar("evaluating") as bar:
        task = bar.add_task("evaluating", total=None)
        report = evaluate_export(
            paths[0], options, lambda done, total: bar.update(task, completed=done, total=total)
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    if html is not None:
        write_report(html, [report])
    _print_runs([report], as_json)


def _print_runs(runs, as_json: bool) -> None:
    if as_json:
        print_json(runs[0] if len(runs) == 1 else [run.model_dump(mode="json") for run in runs])
        return
    from ..evaluate.report import run_names
    from ..evaluate.results import CLAIM_TITLES, CLAIMS

    rows = []
    for name, run in zip(run_names(runs), runs):
        s, m = run.speaks_scenes, run.one_meaning
        rows.append(
            (
                name,
                *(_pct(run.claim(claim)) for claim in CLAIMS),
                f"{_pct(s.passed_all_rules)} / {_pct(s.top1)} / {_pct(s.top5)}",
                f"{m.json_errors} / {_pct(m.micro.f1)} / {_pct(m.hyperlexeme_exact)}",
                f"{run.answered}/{run.answered + run.unanswered}",
            )
        )
    print_table(
        [
            "model",
            *(CLAIM_TITLES[claim] for claim in CLAIMS),
            "rules pass / top-1 / top-5",
            "not JSON / F1 / exact hyperlexeme",
            "answered",
        ],
        rows,
    )
    for run in runs:
        for note in run.notes:
            err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"

"""`generate`: scenes × voices → a model (or the offline template provider) → expressions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..generation.options import MIN_REQUESTS_PER_PROCESS, GenerateOptions
from ..output import err_console, print_json, print_table
from . import cli, default_text, json_option, open_for, options_from, progress_bar


def _default(name: str) -> str:
    """The note of a default in `--help`, from ``GenerateOptions``."""
    return f"[{default_text(GenerateOptions, name)}]"


def _names(value: str | None) -> list[str] | None:
    """``a,b`` -> ["a", "b"]; ``""`` -> [] (leave the dimension unset); None -> the default."""
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


@cli.command()
@click.option(
    "--select", metavar="CYPHER", help="Read-only Cypher whose first column is scene ids."
)
@click.option(
    "--archetype",
    "archetypes",
    multiple=True,
    metavar="NAME",
    help="Only scenes evoking this archetype (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many scenes.")
@click.option(
    "--styles",
    metavar="NAMES",
    help=f"Comma-separated role styles, or 'all'. {_default('styles')}",
)
@click.option(
    "--registers",
    metavar="NAMES",
    help=f"Comma-separated registers, or 'all'. {_default('registers')}",
)
@click.option(
    "--tones",
    metavar="NAMES",
    help=f"Comma-separated tones, or 'all'. {_default('tones')}",
)
@click.option(
    "--forms",
    metavar="NAMES",
    help=f"Comma-separated forms, or 'all'. {_default('forms')}",
)
@click.option(
    "--targets",
    metavar="NAMES",
    help=f"Comma-separated addressees (e.g. человек). {_default('targets')}",
)
@click.option(
    "--mode",
    type=click.Choice(["many", "one"]),
    help="'many': several outputs per request as one JSON answer; 'one': a request "
    f"per output. {_default('mode')}",
)
@click.option(
    "--per-request",
    type=click.IntRange(min=1),
    help=f"Outputs per request in 'many' mode. {_default('per_request')}",
)
@click.option(
    "--walk",
    is_flag=True,
    default=None,
    help="Express passages walked along LEADS_TO/CONTAINS/RESONATES instead of scenes.",
)
@click.option(
    "--walks",
    "walks_per_scene",
    type=click.IntRange(min=1),
    help=f"Walks started from each selected scene. {_default('walks_per_scene')}",
)
@click.option(
    "--walk-length",
    type=click.IntRange(min=2),
    help=f"Scenes per passage (at most). {_default('walk_length')}",
)
@click.option(
    "--restart",
    type=click.FloatRange(0, 1, max_open=True),
    help=f"Chance of jumping back to the start at each step. {_default('restart')}",
)
@click.option("--seed", type=int, help="Seed for walks, and for sampling where the server has one.")
@click.option(
    "--neighbours",
    type=click.IntRange(min=0),
    help="Semantic neighbours shown in each prompt (needs `scenegraph embed`). "
    + _default("neighbours"),
)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML adding to or replacing the bundled styles/registers/tones/forms; prices.",
)
@click.option(
    "--templates",
    type=click.Path(exists=True, file_okay=False),
    help="Folder of .j2 files overriding the bundled prompt templates.",
)
@click.option(
    "--provider",
    type=click.Choice(["openai", "anthropic", "template"]),
    help="'openai': any OpenAI-compatible endpoint; 'anthropic': Claude's Messages API (the key "
    "from ANTHROPIC_API_KEY, the model claude-sonnet-4-5, unless given; no --temperature); "
    "'template': offline, no model. " + _default("provider"),
)
@click.option(
    "--base-url",
    help="Endpoint, e.g. http://127.0.0.1:8000/v1. Env: OPENAI_BASE_URL, or ANTHROPIC_BASE_URL "
    "for anthropic.",
)
@click.option(
    "--model",
    envvar="SCENEGRAPH_MODEL",
    help=f"Model name. {_default('model')}",
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    help=f"Environment variable holding the API key. {_default('api_key_env')}",
)
@click.option(
    "--temperature",
    type=click.FloatRange(0, 2),
    help=f"Sampling temperature. {_default('temperature')}",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    help=f"Most tokens per answer. {_default('max_tokens')}",
)
@click.option(
    "--json-mode/--no-json-mode",
    default=None,
    help="Ask for JSON output (openai: response_format; anthropic: a forced tool call); turn "
    "off for servers or models without it.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    help="The most requests in flight: the run starts lower, adds one as answers come and "
    f"backs off on 429s, overloads and timeouts. {_default('concurrency')}",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    metavar="N",
    help="Worker processes asking in parallel, each with its own client (-c is shared among "
    "them; one writer keeps the journal and the graph). One for --batch, --max-cost (one spend "
    "cap) and the template provider. [default: one per CPU, each with at least "
    f"{MIN_REQUESTS_PER_PROCESS} requests]",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    help=f"Retries per request. {_default('retries')}",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Seconds per request. {_default('timeout_s')}",
)
@click.option(
    "--max-cost",
    "max_cost_usd",
    type=click.FloatRange(min=0, min_open=True),
    metavar="USD",
    help="Send no request once the spend (at the config's prices) could pass this; a re-run "
    f"with a higher cap does the rest. {_default('max_cost_usd')}",
)
@click.option(
    "--focus",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="EVAL.json",
    help="Plan only more expressions in the style × register × tone cells an evaluation "
    "(`evaluate --out`) scored lowest, scenes near its weakest trees first; its held-out "
    "scenes are left out.",
)
@click.option(
    "--focus-below",
    type=click.FloatRange(0, 1, min_open=True),
    help=f"With --focus: a cell whose mean score is under this is weak. {_default('focus_below')}",
)
@click.option(
    "--focus-budget",
    type=click.IntRange(min=1),
    help=f"With --focus: the most expressions planned. {_default('focus_budget')}",
)
@click.option(
    "--dry-run",
    is_flag=True,
    default=None,
    help="Only count requests and estimate tokens and cost.",
)
@click.option(
    "--batch",
    is_flag=True,
    default=None,
    help="Send the requests through the provider's batch API (openai, anthropic): half the "
    "price, answers within 24 h. Journaled before sending: a stopped run resumes by polling "
    "what it sent.",
)
@click.option(
    "--collect",
    is_flag=True,
    default=None,
    help="Batch mode sending nothing new: wait for and store what earlier --batch runs sent.",
)
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Show the journal's batches (submitted / done / failed / pending) and exit.",
)
@click.option(
    "--poll",
    "poll_s",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help=f"Batch mode: seconds between looks at the batches in flight. {_default('poll_s')}",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 50_000),
    help=f"Batch mode: requests per batch. {_default('batch_size')}",
)
@json_option
@click.pass_context
def generate(ctx: click.Context, as_json: bool, show_status: bool, **given: Any) -> None:
    """Generate expressions of scenes in many styles, registers, tones and forms.

    Resumable: a re-run skips what is done, retries what failed, and regenerates (superseding
    the old) what an edited scene or neighbourhood made stale.

    \b
    Example:
      scenegraph generate --provider template --styles all --registers poetry,logic
      OPENAI_API_KEY=… scenegraph generate --base-url http://127.0.0.1:8000/v1 \\
          --model qwen2.5-7b --archetype порог --tones медитативно -c 32
      scenegraph generate --walk --walk-length 3 --dry-run
      scenegraph generate --batch --model gpt-4o-mini     # then, later: --batch --collect
      scenegraph generate --focus lora.json --focus-budget 500   # after `evaluate --out`
    """
    from ..generation import generate as run_generation

    if show_status:
        _print_status(ctx, as_json)
        return
    options = _options(given)
    with progress_bar("{task.description}") as bar:
        report = run_generation(open_for(ctx), options, progress=_Progress(bar))
    if as_json:
        print_json(report)
    else:
        _print_report(report)


def _print_status(ctx: click.Context, as_json: bool) -> None:
    from ..generation import batch_status

    batches = batch_status(open_for(ctx, read_only=True))
    if as_json:
        print_json([b.model_dump(mode="json") for b in batches])
        return
    print_table(
        [
            "batch",
            "server id",
            "provider / model",
            "state",
            "submitted",
            "done",
            "failed",
            "pending",
            "created",
        ],
        (
            (
                b.id,
                b.remote_id or "-",
                f"{b.provider} / {b.model}",
                b.state,
                b.submitted,
                b.done,
                b.failed,
                b.pending,
                b.created_at,
            )
            for b in batches
        ),
        title=f"batches ({len(batches)})",
    )


def _options(given: dict[str, Any]) -> GenerateOptions:
    for name in ("styles", "registers", "tones", "forms", "targets"):
        given[name] = _names(given[name])
    given["archetypes"] = list(given["archetypes"]) or None
    return options_from(GenerateOptions, **{k: v for k, v in given.items() if v is not None})


class _Progress:
    """Prints the plan once, then keeps one bar: done / failed / retrying / tokens."""

    def __init__(self, bar):
        self.bar = bar
        self.task = None

    def __call__(self, state) -> None:
        if self.task is None:
            err_console.print(
                f"plan: {state.total + state.already_done} items; "
                f"{state.already_done} already done, {state.stale} stale "
                f"(regenerated, old ones superseded), {state.total} to do",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            self.task = self.bar.add_task("", total=state.total)
        if state.batches or state.waiting:
            doing = f"batches {state.batches}  waiting {state.waiting}"
        else:
            doing = f"retrying {state.retrying}  concurrency {state.concurrency}"
        self.bar.update(
            self.task,
            completed=state.done + state.failed,
            description=(
                f"generating  done {state.done}  failed {state.failed}  {doing}  "
                f"tokens {state.tokens}{_spent(state.cost_usd)}"
            ),
        )


def _spent(cost_usd: float | None) -> str:
    return f"  ${cost_usd:.4f}" if cost_usd is not None else ""


def _print_report(report) -> None:
    rows = [
        ("provider / model", f"{report.provider} / {report.model}"),
        ("template hash", report.template_hash),
        ("planned", report.planned),
        ("already done", report.already_done),
        ("stale", report.stale),
        ("requests", report.requests),
    ]
    if report.estimate:
        est = report.estimate
        cost = f"${est.cost_usd:.4f}" if est.cost_usd is not None else "no price in --config"
        rows += [
            ("estimated prompt tokens", est.prompt_tokens),
            ("estimated completion tokens", est.completion_tokens),
            ("estimated cost", cost),
        ]
    else:
        rows += [
            ("generated", report.generated),
            ("recovered from the journal", report.recovered),
            ("failed", report.failed),
            ("superseded", report.superseded),
            *_batch_rows(report),
            (
                "tokens (prompt / completion)",
                f"{report.prompt_tokens} / {report.completion_tokens}",
            ),
            *_spend_rows(report),
            ("seconds", f"{report.elapsed_s:.1f}"),
        ]
    print_table(["", "dry run" if report.dry_run else "generate"], rows)
    if report.focus:
        _print_focus(report.focus)
    if report.left:
        err_console.print(
            f"the spend cap was reached: {report.left} items left; run again with a higher "
            "--max-cost to do them",
            markup=False,
            highlight=False,
        )
    if report.failures:
        print_table(
            ["scenes", "slot", "reason"],
            ((", ".join(f.scene_ids), f.slot, f.reason) for f in report.failures),
            title=f"failed ({report.failed}; run again to retry them)",
        )


def _print_focus(focus) -> None:
    print_table(
        ["cell", "score", "evaluated items"],
        ((c.cell, f"{c.score:.1%}", c.items) for c in focus.cells),
        title=f"focus: {focus.planned} of at most {focus.budget} planned in the cells under "
        f"{focus.below:g} of {focus.evaluation}",
    )
    notes = []
    if focus.archetypes:
        trees = ", ".join(t.cell for t in focus.trees)
        notes.append(
            f"scenes evoking {', '.join(focus.archetypes[:8])} (weakest trees: "
            f"{trees}) came first; {focus.held_out} held-out scenes left out"
        )
    if focus.skipped:
        notes.append(f"cells the config has no voices for: {', '.join(focus.skipped)}")
    for note in notes:
        err_console.print(f"focus: {note}", markup=False, highlight=False, soft_wrap=True)


def _batch_rows(report) -> list[tuple[str, Any]]:
    if not report.batch:
        return []
    return [("batches submitted", report.batches), ("sent again", report.resubmitted)]


def _spend_rows(report) -> list[tuple[str, Any]]:
    """What the run spent (at the config's price) against the cap, and what the cap left."""
    if report.cost_usd is None:
        return []
    cap = f" of ${report.max_cost_usd:g} cap" if report.max_cost_usd is not None else ""
    prices = " at batch prices" if report.batch else ""
    rows: list[tuple[str, Any]] = [("spent", f"${report.cost_usd:.4f}{prices}{cap}")]
    if report.max_cost_usd is not None:
        rows.append(("left for a later run", report.left))
    return rows

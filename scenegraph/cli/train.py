"""`scenegraph train`: a LoRA adapter (QLoRA on CUDA) from an export, with TRL and PEFT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..evaluate.results import CLAIMS
from ..output import console, err_console, print_json, print_table
from ..train.options import TrainOptions
from . import cli, default_text, json_option, options_from, progress_bar


def _default(name: str) -> str:
    return default_text(TrainOptions, name)


@cli.command("train")
@click.argument("export_dir", metavar="EXPORT", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--base-model",
    required=True,
    metavar="ID|FOLDER",
    help="The model to adapt: a hub id (downloaded once) or a local folder; it needs a chat "
    "template.",
)
@click.option(
    "--format",
    "data_format",
    type=click.Choice(["prompt-completion", "openai"]),
    help="Which of the export's files to read. [prompt-completion if written, else openai]",
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    metavar="NAME",
    help="With a --by-style export: train only this style's dataset (repeatable). [all]",
)
@click.option("--rank", type=click.IntRange(min=1), default=_default("rank"), show_default=True)
@click.option("--alpha", type=click.IntRange(min=1), help="LoRA alpha. [twice the rank]")
@click.option("--dropout", type=float, default=_default("dropout"), show_default=True)
@click.option(
    "--target-modules",
    metavar="NAMES",
    help="Comma list of module names to adapt. [every attention and MLP projection for "
    "Llama, Mistral, Qwen2/3, Gemma; PEFT's mapping for others; else all linear layers]",
)
@click.option("--learning-rate", type=float, default=_default("learning_rate"), show_default=True)
@click.option("--warmup-ratio", type=float, default=_default("warmup_ratio"), show_default=True)
@click.option("--epochs", type=float, default=_default("epochs"), show_default=True)
@click.option(
    "--max-steps", type=click.IntRange(min=1), help="Stop after this many optimiser steps."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=_default("batch_size"),
    show_default=True,
    help="Rows per device per step.",
)
@click.option(
    "--gradient-accumulation",
    type=click.IntRange(min=1),
    default=_default("gradient_accumulation"),
    show_default=True,
)
@click.option(
    "--max-length",
    type=click.IntRange(min=8),
    help="Tokens per row; longer rows are cut. [the longest train row, up to --max-length-cap]",
)
@click.option(
    "--max-length-cap",
    type=click.IntRange(min=8),
    default=_default("max_length_cap"),
    show_default=True,
)
@click.option(
    "--gradient-checkpointing/--no-gradient-checkpointing",
    default=True,
    show_default=True,
    help="Recompute activations in the backward pass: less memory, about a third slower.",
)
@click.option(
    "--quantize",
    type=click.Choice(["auto", "4bit", "none"]),
    default=_default("quantize"),
    show_default=True,
    help="4bit: QLoRA (NF4); auto: QLoRA when CUDA and bitsandbytes are there.",
)
@click.option("--seed", type=int, default=_default("seed"), show_default=True)
@click.option(
    "--save-steps",
    type=click.IntRange(min=1),
    default=_default("save_steps"),
    show_default=True,
    help="Checkpoint (and measure the validation loss) every N steps.",
)
@click.option(
    "--save-total-limit",
    type=click.IntRange(min=1),
    default=_default("save_total_limit"),
    show_default=True,
    help="Checkpoints kept.",
)
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in OUT.")
@click.option("--force", "overwrite", is_flag=True, help="Replace OUT if it already holds files.")
@click.option(
    "--evaluate",
    is_flag=True,
    help="Then score each adapter on the export's test split (as `scenegraph evaluate`).",
)
@click.option(
    "--evaluate-limit",
    type=click.IntRange(min=1),
    help="With --evaluate: at most this many test items per direction.",
)
@json_option
def train(export_dir: str, out: str, as_json: bool, **given: Any) -> None:
    """Train a LoRA adapter on an export's train split (validation loss measured on its
    validation split), completion-only: the loss is on the answers. QLoRA (4-bit NF4) on CUDA
    with bitsandbytes, plain LoRA elsewhere. A --by-style export trains one adapter per style,
    in OUT/<style>. Each adapter folder holds the weights, the tokenizer, checkpoints/, a card
    (README.md) and training.json (base model, manifest hash, hyper-parameters, losses).

    \b
    Example:
      scenegraph train out/dataset out/adapter --base-model Qwen/Qwen2.5-0.5B-Instruct
      scenegraph train out/dataset out/adapter --base-model Qwen/Qwen2.5-0.5B-Instruct --resume
    """
    import datasets
    import transformers

    from ..train import train as run_training

    options = _options(given)
    datasets.disable_progress_bars()  # one bar: the steps
    transformers.utils.logging.disable_progress_bar()
    with progress_bar("{task.description}") as bar:
        report = run_training(Path(export_dir), Path(out), options, progress=_Progress(bar))
    if as_json:
        return print_json(report)
    for note in report.notes:
        err_console.print(f"note: {note}", markup=False, highlight=False)
    rows = [
        (
            run.card.dataset,
            run.card.steps,
            _loss(run.card.final_train_loss),
            _loss(run.card.validation_loss_before),
            _loss(run.card.validation_loss),
            run.path,
        )
        for run in report.adapters
    ]
    print_table(
        ["dataset", "steps", "train loss", "validation before", "validation after", "adapter"],
        rows,
        title=f"adapters from {export_dir}",
    )
    scores = [
        (run.card.dataset, *(_loss(run.evaluation.claim(name)) for name in CLAIMS))
        for run in report.adapters
        if run.evaluation is not None
    ]
    if scores:
        print_table(["dataset", *CLAIMS], scores, title="test split (scenegraph evaluate)")
    console.print(f"{len(report.adapters)} adapter(s) written to {out}", markup=False)


def _options(given: dict[str, Any]) -> TrainOptions:
    modules = given.pop("target_modules") or ""
    given["target_modules"] = [name.strip() for name in modules.split(",") if name.strip()]
    given["format"] = given.pop("data_format")
    given["datasets"] = list(given["datasets"])
    return options_from(TrainOptions, **given)


class _Progress:
    """One bar per dataset trained (steps done of the run's steps, with the last loss), and
    one per adapter evaluated (test items answered)."""

    def __init__(self, bar) -> None:
        self.bar = bar
        self.tasks: dict[tuple[str, str], Any] = {}

    def __call__(self, state) -> None:
        key = (state.dataset, state.phase)
        if key not in self.tasks:
            self.tasks[key] = self.bar.add_task("", total=state.max_steps)
        loss = "" if state.loss is None else f"  loss {state.loss:.4f}"
        self.bar.update(
            self.tasks[key],
            completed=state.step,
            total=state.max_steps,
            description=f"{state.phase} {state.dataset}{loss}",
        )


def _loss(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"

"""One `train` run: for each dataset of the export, a LoRA adapter trained with TRL's
SFTTrainer, checkpointed as it goes, saved with its tokenizer and its card."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from transformers import PrinterCallback, TrainerCallback

from ..errors import ConfigError
from .card import write_card
from .data import (
    DatasetFiles,
    Export,
    datasets_to_train,
    max_length,
    read_export,
    read_rows,
    token_lengths,
)
from .evaluation import check_evaluable, evaluate_adapter
from .model import Base, load_base, require_libraries, target_modules
from .options import (
    AdapterCard,
    AdapterRun,
    LossPoint,
    Progress,
    TrainOptions,
    TrainProgress,
    TrainReport,
)

CHECKPOINTS = "checkpoints"


def train(
    export_dir: Path | str,
    out_dir: Path | str,
    options: TrainOptions,
    progress: Progress | None = None,
) -> TrainReport:
    """Train one adapter per dataset of the export (one per style for a ``--by-style`` export,
    each in ``out_dir/<dataset>``; else in ``out_dir`` itself)."""
    require_libraries()
    export = read_export(Path(export_dir))
    out = Path(out_dir)
    plans = datasets_to_train(export, options)
    if options.evaluate:
        check_evaluable(export, options)
    _prepare(out, options)
    base = load_base(options)
    by_style = export.manifest.options.by_style
    adapters = [
        _train_one(export, plan, out / plan.key if by_style else out, base, options, progress)
        for plan in plans
    ]
    return TrainReport(export=str(export.folder), out=str(out), notes=base.notes, adapters=adapters)


def _prepare(out: Path, options: TrainOptions) -> None:
    """Refuse to mix a new run into an old one: a folder with files needs --resume (to
    continue its checkpoints) or --force (to start over)."""
    busy = out.is_dir() and any(out.iterdir())
    if options.resume:
        if not any(out.glob(f"**/{CHECKPOINTS}/checkpoint-*")):
            raise ConfigError(f"{out}: no checkpoint to resume from; run without --resume")
    elif busy and options.overwrite:
        shutil.rmtree(out)
    elif busy:
        raise ConfigError(
            f"{out}: holds files already; --resume continues its checkpoints, --force starts over"
        )
    out.mkdir(parents=True, exist_ok=True)


def _train_one(
    export: Export,
    plan: DatasetFiles,
    folder: Path,
    base: Base,
    options: TrainOptions,
    progress: Progress | None,
) -> AdapterRun:
    from transformers.trainer_utils import get_last_checkpoint

    data = {split: _dataset(path, plan) for split, path in plan.files.items()}
    lengths = token_lengths(base.tokenizer, list(data["train"]))
    limit = max_length(lengths, options)
    trainer = _trainer(base, options, plan, data, folder / CHECKPOINTS, limit)
    trainer.remove_callback(PrinterCallback)  # progress goes to `progress`, not to stdout
    trainer.add_callback(_Report(plan.key, progress))
    checkpoint = get_last_checkpoint(str(folder / CHECKPOINTS)) if options.resume else None
    if not len(trainer.train_dataset):
        raise ConfigError(
            f"{plan.files['train']}: no row keeps any of its answer within {limit} tokens; "
            "raise --max-length"
        )
    # Rows whose answer starts past max_length are dropped: a validation split can empty.
    evaluate = trainer.eval_dataset is not None and len(trainer.eval_dataset) > 0
    before = trainer.evaluate()["eval_loss"] if evaluate and checkpoint is None else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    after = _final_validation_loss(trainer) if evaluate else None
    trainer.save_model(str(folder))
    history = trainer.state.log_history
    card = AdapterCard(
        base_model=base.name,
        export=str(export.folder),
        manifest_sha256=export.sha256,
        dataset=plan.key,
        style=plan.style,
        format=plan.format,
        rows={split: len(rows) for split, rows in data.items()},
        truncated_rows=sum(n > limit for n in lengths),
        architecture=base.architecture,
        quantization=base.quantization,
        device=base.device,
        hyperparameters=_hyperparameters(options, base, limit),
        steps=trainer.state.global_step,
        epochs=trainer.state.epoch or 0.0,
        resumed_from=Path(checkpoint).name if checkpoint else None,
        train_loss=_finite(result.training_loss),
        final_train_loss=_last(history, "loss"),
        validation_loss_before=_finite(before),
        validation_loss=_finite(after),
        losses=_points(history, "loss"),
        validation_losses=_points(history, "eval_loss"),
    )
    write_card(folder, card)
    evaluation = (
        evaluate_adapter(export, plan.key, folder, options, progress) if options.evaluate else None
    )
    return AdapterRun(path=str(folder), card=card, evaluation=evaluation)


def _dataset(path: Path, plan: DatasetFiles) -> Any:
    from datasets import Dataset

    return Dataset.from_list(read_rows(path, plan.format))


def _trainer(
    base: Base,
    options: TrainOptions,
    plan: DatasetFiles,
    data: dict[str, Any],
    checkpoints: Path,
    limit: int,
) -> Any:
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    evaluate = "validation" in data
    args = SFTConfig(
        output_dir=str(checkpoints),
        max_length=limit,
        completion_only_loss=True,
        num_train_epochs=options.epochs,
        max_steps=options.max_steps or -1,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        gradient_accumulation_steps=options.gradient_accumulation,
        activation_checkpointing=options.gradient_checkpointing,
        learning_rate=options.learning_rate,
        warmup_steps=options.warmup_ratio,  # below 1: a share of the steps
        lr_scheduler_type="cosine",
        logging_steps=1,
        save_strategy="steps",
        save_steps=options.save_steps,
        save_total_limit=options.save_total_limit,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=options.save_steps,
        seed=options.seed,
        report_to=[],
        disable_tqdm=True,
        model_init_kwargs=base.init_kwargs,
        bf16=base.bf16,
        fp16=base.fp16,
    )
    lora = LoraConfig(
        r=options.rank,
        lora_alpha=options.lora_alpha(),
        lora_dropout=options.dropout,
        target_modules=target_modules(base.architecture, options.target_modules),
        task_type="CAUSAL_LM",
    )
    return SFTTrainer(
        model=base.name,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data.get("validation"),
        processing_class=base.tokenizer,
        peft_config=lora,
    )


def _hyperparameters(options: TrainOptions, base: Base, limit: int) -> dict[str, Any]:
    modules = target_modules(base.architecture, options.target_modules)
    return {
        "rank": options.rank,
        "alpha": options.lora_alpha(),
        "dropout": options.dropout,
        "target_modules": modules if isinstance(modules, list) else [modules],
        "learning_rate": options.learning_rate,
        "lr_scheduler": "cosine",
        "warmup_ratio": options.warmup_ratio,
        "epochs": options.epochs,
        "max_steps": options.max_steps,
        "batch_size": options.batch_size,
        "gradient_accumulation": options.gradient_accumulation,
        "max_length": limit,
        "seed": options.seed,
    }


class _Report(TrainerCallback):
    """Feeds ``progress`` a TrainProgress as training begins and at every training loss
    logged (every optimiser step: ``logging_steps`` is 1)."""

    def __init__(self, dataset: str, progress: Progress | None) -> None:
        self.dataset, self.progress = dataset, progress

    def _send(self, state: Any, loss: float | None = None) -> None:
        if self.progress is not None:
            self.progress(
                TrainProgress(
                    dataset=self.dataset,
                    step=state.global_step,
                    max_steps=state.max_steps,
                    loss=loss,
                )
            )

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._send(state)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self._send(state, logs["loss"])


def _final_validation_loss(trainer: Any) -> float:
    """The validation loss at the last step: logged already when that step saved a checkpoint,
    else measured now."""
    logged = [h for h in trainer.state.log_history if "eval_loss" in h]
    if logged and logged[-1]["step"] == trainer.state.global_step:
        return logged[-1]["eval_loss"]
    return trainer.evaluate()["eval_loss"]


def _points(history: list[dict[str, Any]], key: str) -> list[LossPoint]:
    return [LossPoint(step=h["step"], loss=h[key]) for h in history if key in h]


def _last(history: list[dict[str, Any]], key: str) -> float | None:
    points = _points(history, key)
    return points[-1].loss if points else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None

"""What one `train` run is asked to do (the options) and what it did (the report, the card)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..evaluate.results import EvaluationReport

DataFormat = Literal["prompt-completion", "openai"]
Quantize = Literal["auto", "4bit", "none"]


class TrainOptions(BaseModel):
    """Everything a run needs besides the export folder and the output folder.

    The defaults are the usual LoRA recipe for a chat model of 0.5-8B parameters on a few
    thousand rows: rank 16, alpha 32, dropout 0.05 on every attention and MLP projection
    (``target_modules`` empty: chosen per architecture), learning rate 2e-4 with a 3 % warmup,
    3 epochs, 16 rows per optimiser step (4 × 4 accumulated). ``max_length`` None takes the
    longest train row in tokens, capped at ``max_length_cap``. ``format`` None reads the
    export's ``prompt-completion`` files, else its ``openai`` ones (the loss is on the answer
    either way). ``datasets`` picks datasets of a ``--by-style`` export (all when empty).
    ``quantize`` auto loads the base model in 4-bit NF4 (QLoRA) when CUDA and bitsandbytes are
    there. Checkpoints go every ``save_steps`` (the validation loss is measured then too);
    ``resume`` continues from the last one. ``evaluate`` scores each adapter on the export's
    test split at the end (``scenegraph evaluate``; ``evaluate_limit`` items per direction).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str = Field(min_length=1)  # a hub id or a local folder
    format: DataFormat | None = None
    datasets: list[str] = []

    rank: int = Field(16, ge=1)
    alpha: int | None = Field(None, ge=1)  # None: twice the rank
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = []

    learning_rate: float = Field(2e-4, gt=0.0)
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    epochs: float = Field(3.0, gt=0.0)
    max_steps: int | None = Field(None, ge=1)  # stops before the epochs are done
    batch_size: int = Field(4, ge=1)
    gradient_accumulation: int = Field(4, ge=1)
    max_length: int | None = Field(None, ge=8)
    max_length_cap: int = Field(2048, ge=8)
    gradient_checkpointing: bool = True
    quantize: Quantize = "auto"
    seed: int = 0

    save_steps: int = Field(100, ge=1)
    save_total_limit: int = Field(2, ge=1)
    resume: bool = False
    overwrite: bool = False
    evaluate: bool = False
    evaluate_limit: int | None = Field(None, ge=1)

    def lora_alpha(self) -> int:
        return self.alpha if self.alpha is not None else 2 * self.rank


class TrainProgress(BaseModel):
    """Training: ``step`` of ``max_steps`` optimiser steps done (0 as a dataset begins), with
    the loss logged; evaluating (``--evaluate``): ``step`` of ``max_steps`` test items
    answered."""

    dataset: str
    phase: Literal["training", "evaluating"] = "training"
    step: int
    max_steps: int
    loss: float | None = None


Progress = Callable[[TrainProgress], None]


class LossPoint(BaseModel):
    step: int
    loss: float


class AdapterCard(BaseModel):
    """The facts of one trained adapter: ``training.json`` beside it, and its ``README.md``."""

    project_version: str = __version__
    base_model: str
    export: str  # the export folder trained from
    manifest_sha256: str  # SHA-256 of its manifest.json, which lists every file's SHA-256
    dataset: str  # "all", or the style's dataset of a --by-style export
    style: str | None
    format: DataFormat
    rows: dict[str, int]  # per split read
    truncated_rows: int  # train rows longer than max_length (cut at the end)
    architecture: str  # the base model's model_type
    quantization: Literal["4bit-nf4", "none"]
    device: str
    hyperparameters: dict[str, float | int | str | bool | list[str] | None]
    steps: int
    epochs: float
    resumed_from: str | None = None
    train_loss: float | None  # mean over the whole run
    final_train_loss: float | None  # the last loss logged
    validation_loss_before: float | None = None  # the base model's, before training
    validation_loss: float | None = None  # the adapter's, at the end
    losses: list[LossPoint]  # training loss by step, as logged
    validation_losses: list[LossPoint] = []


class AdapterRun(BaseModel):
    """One adapter written: where, and its card (``evaluation`` when asked for)."""

    path: str
    card: AdapterCard
    evaluation: EvaluationReport | None = None


class TrainReport(BaseModel):
    export: str
    out: str
    notes: list[str] = []  # e.g. why this run is plain LoRA rather than QLoRA
    adapters: list[AdapterRun]

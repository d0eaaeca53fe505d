"""What one evaluation is asked to do: which model answers, on which rows, and where it keeps
its journal."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..export.options import Direction
from ..llm.providers import ProviderConfig, ProviderName, config_of, with_provider_defaults

JOURNAL_SUFFIX = ".evaluate.sqlite"


class EvaluateOptions(BaseModel):
    """Everything ``evaluate_export`` needs besides the export folder.

    The model is one of: ``reference`` (the held-out expected texts themselves: the upper bound
    of the scale), ``template`` (the offline template provider: the lower bound), ``hf_model``
    (a local Hugging Face model folder, with an optional PEFT ``adapter``), or a provider of the
    generation layer (``provider``, ``model``, ``base_url``…; a LoRA served by vLLM is a model
    name there). ``limit`` keeps the first N items of each direction (quick runs). Answers are
    journaled in ``journal`` (by default ``<export>.evaluate.sqlite`` beside the export folder,
    which stays as the export wrote it), so a killed run asks again only what it lacks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: bool = False
    template: bool = False
    hf_model: Path | None = None
    adapter: Path | None = None
    device: str | None = None  # for hf_model: cpu, cuda…; None: CUDA when available
    provider: ProviderName | None = None
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1)
    json_mode: bool = False  # the rows are answered as trained: plain text (JSON for reverse)

    split: str = "test"
    dataset: str | None = None  # one dataset of a --by-style export (e.g. a style); None: all
    directions: list[Direction] = ["forward", "reverse", "transfer"]
    limit: int | None = Field(None, ge=1)
    journal: Path | None = None
    embedding_model: str | None = None  # for recoverability and similarity; None: packaged
    concurrency: int = Field(8, ge=1)
    retries: int = Field(3, ge=0)
    backoff_s: float = Field(0.5, ge=0.0)
    timeout_s: float = Field(120.0, gt=0.0)
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, values: object) -> object:
        return with_provider_defaults(values, "provider")

    @model_validator(mode="after")
    def _one_model(self) -> EvaluateOptions:
        chosen = [
            name
            for name, given in (
                ("reference", self.reference),
                ("template", self.template),
                ("hf_model", self.hf_model is not None),
                ("provider", self.provider is not None),
            )
            if given
        ]
        if len(chosen) != 1:
            raise ValueError(
                "name exactly one model: reference, template, hf_model or provider "
                f"(got {', '.join(chosen) or 'none'})"
            )
        if self.adapter is not None and self.hf_model is None:
            raise ValueError("adapter goes with hf_model")
        return self

    @property
    def kind(self) -> Literal["reference", "template", "huggingface", "provider"]:
        if self.reference:
            return "reference"
        if self.template:
            return "template"
        return "huggingface" if self.hf_model is not None else "provider"

    def provider_config(self) -> ProviderConfig:
        """The generation layer's provider these options name."""
        assert self.provider is not None
        return config_of(self, self.provider)

    def journal_path(self, export_dir: Path) -> Path:
        folder = Path(export_dir).resolve()
        return self.journal or folder.with_name(folder.name + JOURNAL_SUFFIX)

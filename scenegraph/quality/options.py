"""What one `check` run is asked to do: thresholds, the optional judge, the report, compression."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..llm.providers import ProviderConfig

_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


class Thresholds(BaseModel):
    """Where each rule draws its line. They go into the hash that decides re-checking."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Rule 1, lived not explained: score = 1 − the weights of commentary markers found.
    lived_min: float = Field(0.5, ge=0.0, le=1.0)
    # Rule 3, no redundancy: the structure restated (score = 1 − the penalties found) …
    structure_min: float = Field(0.5, ge=0.0, le=1.0)
    copy_min_names: int = Field(3, ge=1)  # component names copied, at least …
    copy_max_share: float = Field(0.75, ge=0.0, le=1.0)  # … and this share of them: fails
    # … and near-duplicates: MinHash Jaccard of character shingles (surface) and the mean of
    # embedding and character n-gram cosine (paraphrase).
    surface_jaccard: float = Field(0.7, gt=0.0, le=1.0)
    paraphrase_similarity: float = Field(0.75, gt=0.0, le=1.0)
    # Rule 4, keeps the voice: how much closer the nearest other scene is than the own one
    # (cosine, by embedding or by character n-grams, whichever shows more) …
    scene_gap_max: float = Field(0.375, gt=0.0, le=2.0)
    # … and P(requested register or tone) from a classifier of the corpus' labels, over chance.
    label_min_ratio: float = Field(0.25, gt=0.0)
    min_labelled: int = Field(5, ge=2)  # examples a register/tone needs to be checked
    # Rule 2, many forms, one linkage: accepted outputs per scene and their variety.
    linkage_min: int = Field(5, ge=1)
    linkage_max: int = Field(10, ge=1)
    linkage_variety: int = Field(3, ge=1)
    # The optional judge: mean of its four scores (0..1).
    judge_min: float = Field(0.5, ge=0.0, le=1.0)


class JudgeOptions(BaseModel):
    """The LLM judge: any OpenAI-compatible endpoint, the key from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0.0)
    timeout_s: float = Field(60.0, gt=0.0)
    max_tokens: int = Field(400, ge=16)

    def provider_config(self) -> ProviderConfig:
        """The ``openai`` provider, set up to judge: temperature 0, JSON answers."""
        return ProviderConfig(
            name="openai",
            model=self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            temperature=0.0,
            max_tokens=self.max_tokens,
            timeout_s=self.timeout_s,
        )


class CheckOptions(BaseModel):
    """Everything a check run needs besides the store.

    ``compress`` is a number of expressions or a share such as ``"50%"`` of the accepted ones.
    ``report_dir`` receives ``report.html`` (and ``compressed.json`` when compressing).
    ``force`` re-checks everything, ignoring what the stored hashes say is unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None  # embedding model spec; None: the one the indexes were built with
    thresholds: Thresholds = Thresholds()
    judge: JudgeOptions | None = None
    report_dir: Path | None = None
    compress: int | str | None = None
    force: bool = False
    folds: int = Field(5, ge=2)  # cross-validation folds (classifiers, separability)
    seed: int = 0

    @field_validator("compress")
    @classmethod
    def _budget_shape(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str):
            if value.strip().isdigit():
                value = int(value)
            elif not (match := _SHARE.match(value)) or not 0 < float(match.group(1)) <= 100:
                raise ValueError("give a number of expressions or a share like 50%")
        if isinstance(value, int) and value < 1:
            raise ValueError("keep at least one expression")
        return value

    def budget(self, accepted: int) -> int | None:
        """How many expressions compression keeps out of ``accepted``."""
        if self.compress is None:
            return None
        if isinstance(self.compress, int):
            return min(self.compress, accepted)
        # A string ``compress`` passed _budget_shape, so it matches.
        share = float(cast(re.Match[str], _SHARE.match(self.compress)).group(1)) / 100
        return max(1, math.ceil(accepted * share)) if accepted else 0

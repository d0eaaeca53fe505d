"""What one export is asked to do: which scenes, which pairs, which files, how to split them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Direction = Literal["forward", "reverse", "transfer"]
FormatName = Literal[
    "openai", "sharegpt", "alpaca", "prompt-completion", "hf", "parquet", "records"
]

DIRECTIONS: tuple[str, ...] = ("forward", "reverse", "transfer")
FORMATS: tuple[FormatName, ...] = (
    "openai",
    "sharegpt",
    "alpaca",
    "prompt-completion",
    "hf",
    "parquet",
    "records",
)
# OpenAI refuses a fine-tuning file with fewer training examples than this.
OPENAI_MIN_EXAMPLES = 10
SPLITS: tuple[str, ...] = ("train", "validation", "test")


class ExportOptions(BaseModel):
    """Everything an export needs besides the store and the output folder.

    Selection: the scenes returned by ``select`` (a read-only Cypher query returning scene ids)
    together with ``scene_ids``; all scenes when both are empty. ``archetypes`` keeps the selected
    scenes that evoke one of them. Sub-scenes of every selected scene come along unless
    ``subtree`` is false. ``styles``, ``registers``, ``tones`` and ``forms`` filter the
    expression each pair is about (the answer of forward and transfer pairs, the question of
    reverse ones). Expressions whose checks failed (``passed`` false) are left out unless
    ``include_failed``; unchecked ones (``passed`` None) are kept; superseded ones never go.
    ``max_per_cell`` caps the pairs of each direction × style × register × tone, shared out over
    the splits by their ratios. ``overwrite`` replaces a non-empty output folder.

    Rows are shuffled within each split by ``seed`` (the same seed, the same bytes). With
    ``by_style``, a style with fewer than ``min_style_rows`` training rows does not get a
    dataset of its own: such styles go together into one ``other`` dataset (0 keeps them all).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    select: str | None = None
    scene_ids: list[str] = []
    subtree: bool = True
    archetypes: list[str] = []
    styles: list[str] = []
    registers: list[str] = []
    tones: list[str] = []
    forms: list[str] = []
    include_failed: bool = False

    directions: list[Direction] = ["forward"]
    formats: list[FormatName] = list(FORMATS)
    # train, validation, test; zero leaves a split out.
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    by_style: bool = False
    min_style_rows: int = Field(OPENAI_MIN_EXAMPLES, ge=0)
    max_per_cell: int | None = Field(None, ge=1)
    compress: Literal["zstd"] | None = None

    name: str = Field("scenegraph", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    license: str | None = None
    overwrite: bool = False

    @field_validator("directions", "formats")
    @classmethod
    def _unique_and_some(cls, values: list[str]) -> list[str]:
        if not values:
            raise ValueError("name at least one")
        return list(dict.fromkeys(values))

    @field_validator("split")
    @classmethod
    def _ratios(cls, values: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v < 0 for v in values) or values[0] <= 0:
            raise ValueError("ratios are train,validation,test, none negative, train above zero")
        total = sum(values)
        return tuple(v / total for v in values)  # type: ignore[return-value]

    def ratios(self) -> dict[str, float]:
        """Split name -> share of pairs, for the splits this export writes."""
        return {name: ratio for name, ratio in zip(SPLITS, self.split) if ratio > 0}

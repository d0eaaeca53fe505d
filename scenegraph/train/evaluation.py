"""``--evaluate``: each adapter scored on the export's test split as `scenegraph evaluate`
scores it, the export checked for what that needs before any training."""

from __future__ import annotations

from pathlib import Path

from ..evaluate.options import EvaluateOptions
from ..evaluate.results import EvaluationReport
from .data import Export
from .options import Progress, TrainOptions, TrainProgress

JOURNAL = "evaluate.sqlite"  # in the adapter's folder


def _options(options: TrainOptions, adapter: Path, dataset: str | None = None) -> EvaluateOptions:
    """The adapter of one dataset is scored on that dataset's held-out rows."""
    return EvaluateOptions(
        hf_model=Path(options.base_model),
        adapter=adapter,
        split="test",
        dataset=dataset,
        limit=options.evaluate_limit,
        journal=adapter / JOURNAL,
        seed=options.seed,
    )


def check_evaluable(export: Export, options: TrainOptions) -> None:
    """Read what the evaluation will read (test split, records), so that an export it cannot
    score is refused before hours of training rather than after."""
    from ..evaluate.items import load_export

    asked = _options(options, export.folder)
    load_export(export.folder, asked.split, list(asked.directions), asked.limit)


def evaluate_adapter(
    export: Export, dataset: str, adapter: Path, options: TrainOptions, progress: Progress | None
) -> EvaluationReport:
    from ..evaluate import evaluate_export

    def answered(done: int, total: int) -> None:
        if progress is not None:
            progress(TrainProgress(dataset=dataset, phase="evaluating", step=done, max_steps=total))

    return evaluate_export(export.folder, _options(options, adapter, dataset), progress=answered)

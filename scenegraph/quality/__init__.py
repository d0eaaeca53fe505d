"""Quality checks: the source's four rules for a good scene ⇄ replica pair, made measurable.

    from scenegraph.quality import CheckOptions, run_checks
    report = run_checks(store, CheckOptions(report_dir=Path("check")))

Per expression, stored on the node (``quality``, ``passed``): *lived, not explained*
(``rules``), *no redundancy* (``rules`` + ``duplicates``), *keeps the voice* (``voice``) and the
optional LLM ``judge``. Per scene and hyperlexeme: *many forms, one linkage* (``linkage``).
Over the dataset: ``metrics``. ``compress`` keeps N expressions with coverage and variety;
``report`` writes the offline HTML report; ``run`` ties them together.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from .options import CheckOptions, JudgeOptions, Thresholds
from .results import CheckReport, RuleResult

if TYPE_CHECKING:
    from .run import CheckProgress, run_checks


# The run loop (and the libraries under it) loads on first use: the options stay cheap to import.
__getattr__ = lazy_attributes(__name__, {"CheckProgress": ".run", "run_checks": ".run"})


__all__ = [
    "CheckOptions",
    "CheckProgress",
    "CheckReport",
    "JudgeOptions",
    "RuleResult",
    "Thresholds",
    "run_checks",
]

"""Does the data teach? A model (the interpreter that made the pairs, or an adapter trained on
them) on an export's held-out split, scored on the source document's three claims: it speaks
scenes, it gives one meaning many forms, it keeps content apart from register.

    from scenegraph.evaluate import EvaluateOptions, evaluate_export
    report = evaluate_export(Path("out/dataset"), EvaluateOptions(reference=True))

One module per concern: ``options``, ``items`` (what is read from the export), ``run`` (asking,
journaled), ``baselines`` (the reference and template rows), ``speaks``, ``meaning`` and
``register`` (a claim each, with ``truth`` and ``classifier`` under them), ``results`` (the
JSON), ``report`` (HTML, several runs side by side), ``api`` (the whole run).
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from .options import EvaluateOptions
from .results import EvaluationReport

if TYPE_CHECKING:
    from .api import evaluate_export
    from .report import write_report

# The scoring (and the libraries under it) loads on first use: the options stay cheap to import.
__getattr__ = lazy_attributes(__name__, {"evaluate_export": ".api", "write_report": ".report"})

__all__ = ["EvaluateOptions", "EvaluationReport", "evaluate_export", "write_report"]

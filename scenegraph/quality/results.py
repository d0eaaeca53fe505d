"""What the checks say: one ``RuleResult`` per rule and expression, and the run's report.

On an Expression node, ``quality`` holds (as JSON) one entry per rule —
``{"score": 0..1, "pass": true|false|null, "reason": "...", "codes": [...], …details}`` — plus
``version`` and ``inputs`` (the hashes of what the entries were computed from), and ``passed``
is true when no applicable rule failed. ``pass: null`` means the rule does not apply (a colour
code is not asked to be lived) or could not be decided (too few labelled examples).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, cast

from pydantic import BaseModel

RULES: tuple[str, ...] = ("lived", "redundancy", "voice", "judge")
STORED_DIGITS = 3  # numbers are stored rounded: noise in the 4th digit rewrites no node
RULE_TITLES = {
    "lived": "lived, not explained",
    "redundancy": "no redundancy",
    "voice": "keeps the voice",
    "judge": "judge (LLM rubric)",
    "linkage": "many forms, one linkage",
}


@dataclass
class RuleResult:
    """One rule's verdict on one expression."""

    score: float | None
    passed: bool | None
    reason: str | None = None
    codes: list[str] = field(default_factory=list)  # machine-readable reasons, e.g. "commentary"
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def skipped(cls, why: str) -> RuleResult:
        """Not applicable, or not decidable: counts neither for nor against."""
        return cls(None, None, why)

    @classmethod
    def of_penalties(
        cls, penalties: list[tuple[str, float, str]], minimum: float, **details: Any
    ) -> RuleResult:
        """Score 1 minus the penalties' weights (floored at 0); passes at ``minimum`` or above.
        Each penalty is (code, weight, reason)."""
        score = max(0.0, 1.0 - sum(weight for _, weight, _ in penalties))
        reason = "; ".join(why for _, _, why in penalties) or None
        return cls(
            score,
            score >= minimum,
            reason,
            list(dict.fromkeys(c for c, _, _ in penalties)),
            details,
        )

    @classmethod
    def combine(cls, parts: list[RuleResult]) -> RuleResult:
        """Several sub-checks of one rule: the lowest score, failing if any part fails."""
        decided = [part for part in parts if part.passed is not None]
        if not decided:
            return cls.skipped(next((p.reason for p in parts if p.reason), "not checked"))
        details: dict[str, Any] = {}
        for part in parts:
            details.update(part.details)
        failed = [part for part in decided if not part.passed]
        reason = "; ".join(p.reason for p in (failed or decided) if p.reason) or None
        # A decided part (passed not None) always has a score.
        return cls(
            min(cast(float, part.score) for part in decided),
            not failed,
            reason,
            list(dict.fromkeys(code for part in failed for code in part.codes)),
            details,
        )

    def as_dict(self) -> dict[str, Any]:
        """The entry as stored (numbers rounded to ``STORED_DIGITS``)."""
        return _rounded(
            {
                "score": self.score,
                "pass": self.passed,
                "reason": self.reason,
                "codes": self.codes,
                **self.details,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleResult:
        details = {k: v for k, v in data.items() if k not in ("score", "pass", "reason", "codes")}
        return cls(
            data.get("score"),
            data.get("pass"),
            data.get("reason"),
            list(data.get("codes") or []),
            details,
        )


def _rounded(value: Any) -> Any:
    if isinstance(value, Real) and not isinstance(value, Integral):  # numpy's floats too
        return round(float(value), STORED_DIGITS)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def overall(results: dict[str, RuleResult]) -> bool:
    """An expression passes when no rule that decided failed it."""
    return all(result.passed is not False for result in results.values())


# -- the run's report -----------------------------------------------------------------------


class RuleSummary(BaseModel):
    rule: str
    checked: int  # expressions the rule decided
    passed: int
    failed: int
    skipped: int  # not applicable or not decidable
    reasons: dict[str, int]  # failure code -> expressions


class LinkageRow(BaseModel):
    """Rule 2 for one scene or hyperlexeme: its accepted outputs and their variety."""

    kind: str  # "scene" or "hyperlexeme"
    id: str
    title: str | None
    accepted: int
    total: int
    forms: list[str]
    registers: list[str]
    status: str  # ok, few, narrow, many


class LinkageSummary(BaseModel):
    scenes: int
    scenes_ok: int
    hyperlexemes: int
    hyperlexemes_ok: int
    below: list[LinkageRow]  # scenes and hyperlexemes with too few or too alike outputs
    above: int  # with more than the maximum (compression can trim them)


class Separability(BaseModel):
    """Cross-validated accuracy of predicting style from the expression embedding."""

    accuracy: float | None
    chance: float | None  # the majority style's share: what guessing would score
    styles: list[str]
    samples: int
    folds: int
    note: str | None = None


class Recoverability(BaseModel):
    """Finding an expression's scene by nearest neighbour among all scenes."""

    top1: float | None
    top5: float | None
    samples: int
    scenes: int
    by_form: dict[str, float]
    by_lang: dict[str, float]


# As in ``models``: a field named `register` only shadows ABCMeta.register, which is unused.
warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)


class CoverageCell(BaseModel):
    style: str | None
    register: str | None
    tone: str | None
    count: int


class Metrics(BaseModel):
    expressions: int  # active expressions checked
    accepted: int
    duplicate_rate: float
    surface_duplicates: int
    paraphrase_duplicates: int
    distinct_1: float
    distinct_2: float
    separability: Separability
    recoverability: Recoverability
    coverage: list[CoverageCell]


class CompressionReport(BaseModel):
    budget: int
    accepted: int
    selected: list[str]
    scenes: tuple[int, int]  # (kept, before) — scenes with ≥1 accepted expression
    styles: tuple[int, int]
    scene_styles: tuple[int, int]  # (scene, style) pairs
    forms: tuple[int, int]
    registers: tuple[int, int]
    diversity: float  # mean pairwise cosine distance, selected / all accepted
    distinct_2: float  # distinct-2, selected / all accepted
    coverage_distance: float  # mean distance of an accepted expression to the nearest kept
    file: str | None = None


class JudgeSummary(BaseModel):
    model: str
    endpoint: str | None
    judged: int  # expressions with a judgement this run
    cached: int  # of which from the journal
    requested: int  # sent to the model
    failed: int
    unreadable: int
    prompt_tokens: int
    completion_tokens: int


class CheckReport(BaseModel):
    store: str
    model: str  # embedding model
    expressions: int
    passed: int
    failed: int
    changed: int  # expressions new or changed since the last check
    checked: int  # expressions whose entries were computed this run (0: reused)
    written: int  # Expression nodes updated
    rules: list[RuleSummary]
    linkage: LinkageSummary
    metrics: Metrics
    judge: JudgeSummary | None = None
    compression: CompressionReport | None = None
    report_file: str | None = None
    notes: list[str] = []
    elapsed_s: float = 0.0

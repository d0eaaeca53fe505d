"""What an evaluation reports, as pydantic models: the JSON a run writes (``--out``) and
``--compare`` reads back.

Each item gets up to three scores in 0..1, one per claim of the source document it bears on;
a claim's score is the mean over its items, and the breakdowns (per style × register × tone
cell, per fractal tree) are the same means over each group's items:

* ``speaks_scenes`` (forward items): the mean of two 0/1 marks, the output passing every
  quality rule that applies to it, and its scene being the nearest scene to it (top-1);
* ``one_meaning`` (reverse items): the mean of the answer being valid JSON, the F1 of the
  components and archetypes it names, and its hyperlexeme being the exact one;
* ``content_register`` (forward and transfer items of worded forms): the share of the asked
  style / register / tone the voice classifier hears in the output; for a transfer, averaged
  with the meaning kept (embedding similarity to the source, clipped at 0).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

CLAIMS: tuple[str, ...] = ("speaks_scenes", "one_meaning", "content_register")
CLAIM_TITLES = {
    "speaks_scenes": "speaks scenes",
    "one_meaning": "one meaning, many forms",
    "content_register": "content apart from register",
}


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values given (None ones left out), rounded; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else None


class ItemResult(BaseModel):
    """One row of the split: what was asked, what came back, and its scores."""

    id: str
    direction: str
    scene_ids: list[str]
    tree: str
    cell: str
    form: str
    expected: str
    output: str | None  # None: no answer (the model failed on it; a re-run asks again)
    failure: str | None = None
    speaks_scenes: float | None = None
    one_meaning: float | None = None
    content_register: float | None = None
    details: dict[str, float | bool | str | None] = {}


class PRF(BaseModel):
    precision: float | None
    recall: float | None
    f1: float | None
    support: int  # names in the truth


class RuleRate(BaseModel):
    rule: str
    checked: int
    passed: int
    rate: float | None


class SpeaksScenes(BaseModel):
    score: float | None
    items: int
    passed_all_rules: float | None
    rules: list[RuleRate]
    reasons: dict[str, int]  # codes of failed rules, most frequent first
    top1: float | None
    top5: float | None
    scenes: int  # the candidates recoverability ranks among
    linkage_ok: int  # scenes whose outputs make 5–10 forms of one linkage (rule 2)
    linkage_scenes: int


class OneMeaning(BaseModel):
    score: float | None
    items: int
    json_errors: int
    json_error_rate: float | None
    hyperlexeme_exact: float | None
    micro: PRF
    by_kind: dict[str, PRF]  # agent, field, act, tone, archetypes


class LabelAgreement(BaseModel):
    """A voice label: how often the outputs sound as asked, beside how often the classifier
    recognises the held-out references (its own accuracy: the ceiling it allows)."""

    label: str
    classes: list[str]
    outputs: int
    agreement: float | None
    classifier_accuracy: float | None
    references: int


class ContentRegister(BaseModel):
    score: float | None
    items: int
    labels: list[LabelAgreement]
    transfer_items: int
    transfer_similarity: float | None  # mean cosine of a transfer's output to its source
    transfer_voice: float | None  # share of transfers heard in the asked style


class Breakdown(BaseModel):
    key: str
    items: int
    speaks_scenes: float | None
    one_meaning: float | None
    content_register: float | None


class EvaluationReport(BaseModel):
    export: str
    dataset: str
    split: str
    model: str  # what answered, e.g. "reference", "template", "hf:/path (+adapter)"
    kind: str
    embedding_model: str
    journal: str
    items: dict[str, int]  # per direction
    answered: int
    unanswered: int
    asked: int  # requests sent in this run
    recovered: int  # answers found in the journal
    speaks_scenes: SpeaksScenes
    one_meaning: OneMeaning
    content_register: ContentRegister
    by_cell: list[Breakdown]
    by_tree: list[Breakdown]
    results: list[ItemResult]
    notes: list[str] = []
    elapsed_s: float = 0.0

    def claim(self, name: str) -> float | None:
        return getattr(self, name).score

"""Rule 4, *keeps the voice*: the expression stays tied to its scene and sounds like the
register and tone it was asked for. Every part scores 0..1 and passes at 0.5.

* *Scene link* (prose forms): the *gap* — how much closer (cosine) the nearest other scene is
  than the expression's own, in whichever of two views shows it more: the embedding, and
  character n-grams (they keep Russian measurable under the English default model). An
  expression that reads as another scene (a neighbour's context leaking into a prompt, a
  mixed-up id) fails, naming that scene. Score: 1 when the own scene is the nearest, 0.5 at
  ``scene_gap_max``.
* *Register and tone agreement* (worded forms): a logistic-regression classifier trained on
  the corpus' own labelled expressions (the embedding plus a few marks of rhythm: length,
  repetition, exclamations, dashes, pauses, first person) gives the probability of the
  requested label; each expression is scored by a model that never saw it (cross-fitted
  folds). Score 0.5 at ``label_min_ratio`` × chance. A label with fewer than ``min_labelled``
  examples is not checked.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from .data import CheckData
from .options import Thresholds
from .results import RuleResult
from .words import PROSE_FORMS, WORDED_FORMS, words

LABELS = ("register", "tone")
REGULARISATION = 3.0
SURFACE_WEIGHT = 0.3  # standardised surface marks, scaled to sit beside a unit-length embedding
FIRST_PERSON = re.compile(r"(?<!\w)(я|мне|меня|мы|нас|i|me|my|we|us)(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Link:
    gap: float  # nearest other scene's similarity minus the own scene's
    nearest: str  # that other scene


def scene_links(data: CheckData) -> dict[int, Link]:
    """Scene link per expression row (prose forms whose scene has a vector)."""
    if len(data.scene_ids) < 2:
        return {}
    rows = [
        i
        for i, e in enumerate(data.expressions)
        if e.form in PROSE_FORMS
        and data.vectors[i].any()
        and any(sid in data.scene_row for sid in e.scene_ids)
    ]
    links = {}
    for block, semantic, lexical in data.scene_similarities(rows):
        for k, row in enumerate(block):
            links[row] = max(_link(data, row, semantic[k]), _link(data, row, lexical[k]))
    return links


def _link(data: CheckData, row: int, similarity: np.ndarray) -> Link:
    own = [data.scene_row[sid] for sid in data.expressions[row].scene_ids if sid in data.scene_row]
    others = similarity.copy()
    others[own] = -np.inf
    nearest = int(np.argmax(others))
    if not np.isfinite(others[nearest]):  # every scene is its own
        return Link(0.0, data.scene_ids[own[0]])
    return Link(float(others[nearest] - similarity[own].max()), data.scene_ids[nearest])


def label_probabilities(
    data: CheckData, label: str, thresholds: Thresholds, folds: int, seed: int
) -> tuple[dict[int, tuple[float, str, int]], str | None]:
    """For each row asking for a checkable ``label`` value: (P(that value), the most likely
    value, number of values), from a model that did not train on that row; and a note on what
    was or could not be checked.

    The model learns from the corpus' own expressions (their labels are the user's, where a
    generated expression's label is only what was asked for); when the corpus has too few, from
    every labelled expression."""

    def value(row: int) -> str:
        return getattr(data.expressions[row], label)

    labelled = [
        i
        for i, e in enumerate(data.expressions)
        if e.form in WORDED_FORMS and getattr(e, label) and data.vectors[i].any()
    ]
    authored = [i for i in labelled if data.expressions[i].provenance.get("source") == "corpus"]
    from_all = len(_classes(data, authored, label, thresholds.min_labelled)) < 2
    source = labelled if from_all else authored
    classes = _classes(data, source, label, thresholds.min_labelled)
    if len(classes) < 2:
        return {}, (
            f"{label} agreement not checked: fewer than two {label}s have "
            f"{thresholds.min_labelled} labelled examples"
        )
    train = [i for i in source if value(i) in classes]
    in_train = set(train)
    rest = [i for i in labelled if i not in in_train and value(i) in classes]
    features = dict(zip(labelled, _features(data, labelled)))
    y = np.array([value(i) for i in train], dtype=object)
    train_x = np.array([features[i] for i in train])
    folds = min(folds, min(np.unique(y, return_counts=True)[1]))
    probabilities = dict(zip(train, _cross_fitted(train_x, y, folds, seed)))
    if rest:
        probabilities.update(
            zip(rest, _fitted(train_x, y).predict_proba(np.array([features[i] for i in rest])))
        )
    note = (
        f"{label} agreement learnt from every labelled expression: the corpus' own have too few"
        if from_all
        else None
    )
    return {
        row: (float(p[classes.index(value(row))]), classes[int(p.argmax())], len(classes))
        for row, p in probabilities.items()
    }, note


def _classes(data: CheckData, rows: list[int], label: str, minimum: int) -> list[str]:
    counts = Counter(getattr(data.expressions[i], label) for i in rows)
    return sorted(value for value, count in counts.items() if count >= minimum)


def _features(data: CheckData, rows: list[int]) -> np.ndarray:
    """The embedding beside the standardised surface marks."""
    marks = np.array([surface_marks(data.expressions[i].text) for i in rows])
    return np.hstack([data.vectors[rows], SURFACE_WEIGHT * _standardised(marks)])


def surface_marks(text: str) -> list[float]:
    """How a text moves, independent of what it says: length, word length, repetition, and
    per-character rates of exclamation, question, pause, dash, semicolon, colon, bracket,
    comma; and whether it speaks in the first person."""
    tokens = words(text)
    size = max(1, len(text)) / 10
    rates = [text.count(mark) / size for mark in ("!", "?", "…", "—", ";", ":", "(", ",")]
    return [
        np.log1p(len(tokens)),
        float(np.mean([len(w) for w in tokens])) if tokens else 0.0,
        1 - len(set(tokens)) / max(1, len(tokens)),
        *rates,
        float(bool(FIRST_PERSON.search(text))),
    ]


def _standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)


def _fitted(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny folds
        return LogisticRegression(C=REGULARISATION, max_iter=2000).fit(x, y)


def _cross_fitted(x: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities (columns in sorted class order)."""
    out = np.zeros((len(y), len(np.unique(y))))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y):
        model = _fitted(x[train], y[train])
        out[np.ix_(test, np.searchsorted(np.unique(y), model.classes_))] = model.predict_proba(
            x[test]
        )
    return out


def check_voice(
    data: CheckData, thresholds: Thresholds, folds: int = 5, seed: int = 0
) -> tuple[dict[str, RuleResult], list[str]]:
    """Rule 4 for every expression, and notes on what could not be checked."""
    links = scene_links(data)
    agreement, notes = {}, []
    for label in LABELS:
        agreement[label], note = label_probabilities(data, label, thresholds, folds, seed)
        notes += [note] if note else []
    results = {}
    for row, expr in enumerate(data.expressions):
        parts = [_scene_part(data, row, links.get(row), thresholds)]
        parts += [
            _label_part(expr, label, agreement[label].get(row), thresholds) for label in LABELS
        ]
        results[expr.id] = RuleResult.combine(parts)
    return results, notes


def _scene_part(data: CheckData, row: int, link: Link | None, thresholds: Thresholds) -> RuleResult:
    expr = data.expressions[row]
    if link is None:
        why = (
            f"not asked of the {expr.form} form"
            if expr.form not in PROSE_FORMS
            else "no scene vector to compare with"
        )
        return RuleResult.skipped(why)
    score = _half_at(max(0.0, link.gap), thresholds.scene_gap_max, higher_is_better=False)
    passed = link.gap < thresholds.scene_gap_max
    scene = data.scenes.get(link.nearest)
    title = f" «{scene.title}»" if scene is not None and scene.title else ""
    reason = (
        None
        if passed
        else (
            f"reads as another scene: {link.nearest}{title} is closer "
            f"than its own by {link.gap:.2f}"
        )
    )
    return RuleResult(
        score,
        passed,
        reason,
        [] if passed else ["off-scene"],
        {"scene_gap": round(link.gap, 4), "nearest_scene": link.nearest},
    )


def _half_at(value: float, threshold: float, higher_is_better: bool) -> float:
    """A 0..1 score that is 0.5 exactly at the threshold: linear, clipped."""
    ratio = value / threshold if higher_is_better else 2 - value / threshold
    return round(min(1.0, max(0.0, ratio / 2)), 4)


def _label_part(
    expr, label: str, found: tuple[float, str, int] | None, thresholds: Thresholds
) -> RuleResult:
    if found is None:
        asked = getattr(expr, label) if expr.form in WORDED_FORMS else None
        return (
            RuleResult.skipped(f"too few examples of the {label} «{asked}» to check it")
            if asked
            else RuleResult(None, None)
        )
    probability, likeliest, classes = found
    ratio = probability * classes
    passed = ratio >= thresholds.label_min_ratio
    reason = (
        None
        if passed
        else (
            f"sounds like {label} «{likeliest}», not the requested "
            f"«{getattr(expr, label)}» (p={probability:.2f})"
        )
    )
    return RuleResult(
        _half_at(ratio, thresholds.label_min_ratio, higher_is_better=True),
        passed,
        reason,
        [] if passed else [f"off-{label}"],
        {f"{label}_p": round(probability, 4)},
    )

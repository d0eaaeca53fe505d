"""Dataset metrics over the accepted expressions (what an export would train on).

* duplicate rate — share of the checked expressions found to be near-duplicates;
* distinct-1/2 — unique unigrams and bigrams over all of them (lexical variety);
* style separability — cross-validated accuracy of a logistic regression predicting style from
  the expression embedding, beside chance (the majority style's share): the source's
  "content separated from register" — styles apart although the scenes vary;
* scene recoverability — top-1/top-5 accuracy of finding an expression's scene as its nearest
  scene by embedding, among all scenes (reverse generation needs it), by form and language;
* the coverage grid style × register × tone.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from typing import cast

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from .data import CHUNK, CheckData
from .results import CoverageCell, Metrics, Recoverability, RuleResult, Separability
from .words import tokens

MIN_PER_STYLE = 5
SEPARABILITY_SAMPLE = 20_000  # above this, a seeded sample keeps the classifier quick
TOP_K = 5


def dataset_metrics(
    data: CheckData,
    results: dict[str, dict[str, RuleResult]],
    accepted: set[str],
    folds: int = 5,
    seed: int = 0,
) -> Metrics:
    rows = [i for i, e in enumerate(data.expressions) if e.id in accepted]
    codes = Counter(
        code
        for entry in results.values()
        for code in (entry["redundancy"].codes if "redundancy" in entry else [])
    )
    duplicates = codes["duplicate-surface"] + codes["duplicate-paraphrase"]
    texts = [data.expressions[i].text for i in rows]
    return Metrics(
        expressions=len(data.expressions),
        accepted=len(rows),
        duplicate_rate=round(duplicates / max(1, len(data.expressions)), 4),
        surface_duplicates=codes["duplicate-surface"],
        paraphrase_duplicates=codes["duplicate-paraphrase"],
        distinct_1=distinct_n(texts, 1),
        distinct_2=distinct_n(texts, 2),
        separability=separability(data, rows, folds, seed),
        recoverability=recoverability(data, rows),
        coverage=coverage(data, rows),
    )


def distinct_n(texts: list[str], n: int) -> float:
    """Unique n-grams of tokens over all n-grams (0 when there are none)."""
    grams = [tuple(t[i : i + n]) for t in map(tokens, texts) for i in range(len(t) - n + 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else 0.0


def separability(data: CheckData, rows: list[int], folds: int, seed: int) -> Separability:
    rows = [i for i in rows if data.vectors[i].any() and data.expressions[i].style]
    counts = Counter(cast(str, data.expressions[i].style) for i in rows)  # all styled (above)
    styles = sorted(s for s, c in counts.items() if c >= max(MIN_PER_STYLE, folds))
    rows = [i for i in rows if data.expressions[i].style in styles]
    if len(styles) < 2:
        return Separability(
            accuracy=None,
            chance=None,
            styles=styles,
            samples=len(rows),
            folds=folds,
            note=f"needs two styles with {MIN_PER_STYLE}+ accepted expressions",
        )
    if len(rows) > SEPARABILITY_SAMPLE:
        rows = sorted(
            np.random.default_rng(seed).choice(rows, SEPARABILITY_SAMPLE, replace=False).tolist()
        )
    x = data.vectors[rows]
    y = np.array([data.expressions[i].style for i in rows], dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(
            LogisticRegression(C=3.0, max_iter=2000),
            x,
            y,
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        )
    chance = max(Counter(y).values()) / len(y)
    return Separability(
        accuracy=round(float(scores.mean()), 4),
        chance=round(chance, 4),
        styles=styles,
        samples=len(rows),
        folds=folds,
    )


def recoverability(data: CheckData, rows: list[int]) -> Recoverability:
    rows = [
        i
        for i in rows
        if data.vectors[i].any() and any(s in data.scene_row for s in data.expressions[i].scene_ids)
    ]
    hits1, hits5 = [], []
    for start in range(0, len(rows), CHUNK):
        block = rows[start : start + CHUNK]
        similarity = data.vectors[block] @ data.scene_vectors.T
        top = np.argsort(-similarity, axis=1)[:, :TOP_K]
        for row, best in zip(block, top):
            own = {
                data.scene_row[s] for s in data.expressions[row].scene_ids if s in data.scene_row
            }
            hits1.append(int(best[0]) in own)
            hits5.append(bool(own & set(best.tolist())))
    by_form, by_lang = defaultdict(list), defaultdict(list)
    for row, hit in zip(rows, hits1):
        by_form[data.expressions[row].form].append(hit)
        by_lang[data.expressions[row].lang or "?"].append(hit)
    return Recoverability(
        top1=_mean(hits1),
        top5=_mean(hits5),
        samples=len(rows),
        scenes=len(data.scene_ids),
        by_form={k: _mean(v) for k, v in sorted(by_form.items())},
        by_lang={k: _mean(v) for k, v in sorted(by_lang.items())},
    )


def coverage(data: CheckData, rows: list[int]) -> list[CoverageCell]:
    cells = Counter((e.style, e.register, e.tone) for e in (data.expressions[i] for i in rows))
    return [
        CoverageCell(style=s, register=r, tone=t, count=n)
        for (s, r, t), n in sorted(cells.items(), key=lambda kv: tuple(map(str, kv[0])))
    ]


def _mean(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None

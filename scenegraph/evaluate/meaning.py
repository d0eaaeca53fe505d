"""*One meaning, many forms* (reverse items): the scene the model reads back from an
expression, as JSON, against the truth the export holds."""

from __future__ import annotations

from .items import Item
from .results import PRF, ItemResult, OneMeaning, mean
from .truth import KINDS, Tally, item_f1, prf, read_scene_json


def one_meaning(
    items: list[Item], outputs: dict[str, str], results: dict[str, ItemResult]
) -> OneMeaning:
    """The claim over the reverse items answered; fills their ``one_meaning``: the mean of
    valid JSON (0/1), the F1 of the names and the exact hyperlexeme (0/1)."""
    tally = Tally.empty()
    errors, exact = 0, list[float | None]()
    reverse = [i for i in items if i.direction == "reverse" and i.id in outputs]
    for item in reverse:
        truth = read_scene_json(item.expected)
        if truth is None:  # the export's own answer: always JSON
            raise AssertionError(f"{item.id}: the export's reverse answer is not JSON")
        answer = read_scene_json(outputs[item.id])
        errors += answer is None
        tally.add(answer, truth)
        hit = answer is not None and answer.hyperlexemes == truth.hyperlexemes
        exact.append(hit)
        f1 = item_f1(answer, truth)
        result = results[item.id]
        result.one_meaning = (float(answer is not None) + f1 + hit) / 3
        result.details.update({"json": answer is not None, "f1": round(f1, 4), "exact": hit})
    return OneMeaning(
        score=mean([results[i.id].one_meaning for i in reverse]),
        items=len(reverse),
        json_errors=errors,
        json_error_rate=round(errors / len(reverse), 4) if reverse else None,
        hyperlexeme_exact=mean(exact),
        micro=_prf(tally, KINDS),
        by_kind={kind: _prf(tally, (kind,)) for kind in KINDS},
    )


def _prf(tally: Tally, kinds: tuple[str, ...]) -> PRF:
    tp, fp, fn = tally.of(kinds)
    precision, recall, f1 = prf(tp, fp, fn)
    return PRF(precision=_round(precision), recall=_round(recall), f1=_round(f1), support=tp + fn)


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None

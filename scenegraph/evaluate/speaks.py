"""*Speaks scenes* (forward items): do the outputs pass the quality gates, and can their scene
be found from them?

The outputs go through ``scenegraph check``'s own rules, as expressions of their scenes beside
the train split's expressions (which teach the register and tone agreement of rule 4, and
against which a copied train text counts as a duplicate): rule 1 *lived, not explained*, rule 3
*no redundancy* (structure restated, near-duplicates), rule 4 *keeps the voice*; rule 2 *many
forms, one linkage* is counted per scene over the outputs. Recoverability: the rank of the
output's own scene among every scene of the export by embedding cosine (top-1, top-5).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..models import Expression, Scene
from ..quality.data import CheckData
from ..quality.duplicates import find_duplicates
from ..quality.linkage import linkage
from ..quality.options import Thresholds
from ..quality.results import RuleResult, overall
from ..quality.rules import check_lived, check_structure
from ..quality.voice import check_voice
from .items import Item
from .results import ItemResult, RuleRate, SpeaksScenes, mean

GATES = ("lived", "redundancy", "voice")
TOP_K = 5
TRAIN_SOURCE = "corpus"  # what check's voice rule learns from: the train split's expressions


@dataclass
class Space:
    """Every scene with content and its embedding, and the embedder's vectors of texts."""

    scene_ids: list[str]
    scene_vectors: np.ndarray
    scenes: dict[str, Scene]


def as_expression(item: Item, text: str, source: str, expr_id: str) -> Expression:
    return Expression(
        id=expr_id,
        scene_ids=item.scene_ids,
        text=text,
        form=item.form,
        style=item.style,
        register=item.register,
        tone=item.tone,
        target=item.target,
        lang=item.lang,
        provenance={"source": source},
    )


def speaks_scenes(
    items: list[Item],
    outputs: dict[str, str],
    train: list[tuple[Expression, np.ndarray]],
    output_vectors: dict[str, np.ndarray],
    space: Space,
    results: dict[str, ItemResult],
    thresholds: Thresholds,
    seed: int,
) -> tuple[SpeaksScenes, list[str]]:
    """The claim over the forward items answered; fills their ``speaks_scenes``. Returns the
    summary and notes (what rule 4 could not check)."""
    forward = [i for i in items if i.direction == "forward" and i.id in outputs]
    spoken = [i for i in forward if outputs[i.id].strip()]
    exprs = [as_expression(i, outputs[i.id], "evaluate", f"output:{i.id}") for i in spoken]
    dimension = space.scene_vectors.shape[1]
    data = CheckData(
        space.scenes,
        [e for e, _ in train] + exprs,
        np.vstack(
            [v for _, v in train]
            + [output_vectors[i.id] for i in spoken]
            + [np.zeros((0, dimension), dtype=np.float32)]
        ),
        space.scene_ids,
        space.scene_vectors,
    )
    verdicts, notes = _gates(data, exprs, thresholds, seed)
    hits = _recovered(data, exprs)
    for item, expr in zip(spoken, exprs):
        passed = overall(verdicts[expr.id])
        top1, top5 = hits[expr.id]
        result = results[item.id]
        result.speaks_scenes = (passed + top1) / 2
        result.details.update(
            {rule: verdicts[expr.id][rule].passed for rule in GATES} | {"top1": top1, "top5": top5}
        )
    missing: list[float | None] = [0.0] * (len(forward) - len(spoken))
    for item in forward:
        if not outputs[item.id].strip():  # an empty answer speaks nothing
            results[item.id].speaks_scenes = 0.0
    linked = linkage(
        CheckData(
            {sid: space.scenes[sid] for i in spoken for sid in i.scene_ids if sid in space.scenes},
            exprs,
            data.vectors[len(train) :],
            [],
            space.scene_vectors[:0],
        ),
        {e.id for e in exprs if overall(verdicts[e.id])},
        thresholds,
    )
    summary = SpeaksScenes(
        score=mean([results[i.id].speaks_scenes for i in forward]),
        items=len(forward),
        passed_all_rules=mean([overall(verdicts[e.id]) for e in exprs] + missing),
        rules=[_rate(rule, [verdicts[e.id][rule] for e in exprs]) for rule in GATES],
        reasons=dict(
            Counter(
                code
                for e in exprs
                for result in verdicts[e.id].values()
                if result.passed is False
                for code in result.codes
            ).most_common()
        ),
        top1=mean([hits[e.id][0] for e in exprs] + missing),
        top5=mean([hits[e.id][1] for e in exprs] + missing),
        scenes=len(space.scene_ids),
        linkage_ok=linked.scenes_ok,
        linkage_scenes=linked.scenes,
    )
    return summary, notes


def _gates(
    data: CheckData, exprs: list[Expression], thresholds: Thresholds, seed: int
) -> tuple[dict[str, dict[str, RuleResult]], list[str]]:
    """Rules 1, 3 and 4 of every output, as ``scenegraph check`` decides them."""
    if not exprs:
        return {}, []
    lived = {e.id: check_lived(e, thresholds) for e in exprs}
    structure = {e.id: check_structure(e, data.scenes_of(e), thresholds) for e in exprs}
    voice, notes = check_voice(data, thresholds, seed=seed)

    def standing(row: int) -> float:
        expr_id = data.expressions[row].id
        scores = [r.score for r in (lived.get(expr_id), structure.get(expr_id)) if r and r.score]
        return sum(scores) / len(scores) if scores else 0.0

    duplicates = find_duplicates(data, thresholds, standing, seed)
    return {
        e.id: {
            "lived": lived[e.id],
            "redundancy": RuleResult.combine([structure[e.id], duplicates[e.id]]),
            "voice": voice[e.id],
        }
        for e in exprs
    }, notes


def _recovered(data: CheckData, exprs: list[Expression]) -> dict[str, tuple[bool, bool]]:
    """(top-1, top-5) of each output: its own scene among the nearest scenes by embedding."""
    out = {}
    for expr in exprs:
        row = data.position[expr.id]
        order = np.argsort(-(data.scene_vectors @ data.vectors[row]))[:TOP_K].tolist()
        own = {data.scene_row[s] for s in expr.scene_ids if s in data.scene_row}
        out[expr.id] = (bool(order) and order[0] in own, bool(own & set(order)))
    return out


def _rate(rule: str, verdicts: list[RuleResult]) -> RuleRate:
    decided = [v.passed for v in verdicts if v.passed is not None]
    return RuleRate(
        rule=rule,
        checked=len(decided),
        passed=sum(decided),
        rate=mean([float(d) for d in decided]),
    )

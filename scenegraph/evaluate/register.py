"""*Content apart from register* (forward and transfer items): does the output carry the
style, register and tone asked for, and does a transfer keep the meaning of its source while
its voice changes?

The voice is heard by ``classifier`` (fitted on the train split). The meaning kept is the
embedding cosine of the transfer's output to its source expression (clipped at 0).
"""

from __future__ import annotations

import numpy as np

from .classifier import VoiceClassifier, agreement, expression_texts
from .items import Item
from .results import ContentRegister, ItemResult, LabelAgreement, mean


def content_register(
    items: list[Item],
    outputs: dict[str, str],
    classifiers: dict[str, VoiceClassifier],
    output_vectors: dict[str, np.ndarray],
    source_vectors: dict[str, np.ndarray],
    results: dict[str, ItemResult],
) -> ContentRegister:
    """The claim over forward and transfer items; fills their ``content_register``."""
    voiced = [i for i in items if i.direction in ("forward", "transfer") and i.id in outputs]
    heard: dict[str, list[bool]] = {item.id: [] for item in voiced}
    labels = []
    heard_style: dict[str, float] = {}
    references = expression_texts(items)
    for label, classifier in classifiers.items():
        pairs = [(outputs[i.id], i) for i in voiced if classifier.asked(i) is not None]
        marks = agreement(classifier, pairs)
        for (_, item), mark in zip(pairs, marks):
            heard[item.id].append(mark)
            results[item.id].details[f"heard_{label}"] = mark
            if label == "style":
                heard_style[item.id] = float(mark)
        own = agreement(classifier, references)
        labels.append(
            LabelAgreement(
                label=label,
                classes=classifier.classes,
                outputs=len(marks),
                agreement=mean(list(marks)),
                classifier_accuracy=mean(list(own)),
                references=len(own),
            )
        )
    similarities = []
    for item in voiced:
        parts = [sum(heard[item.id]) / len(heard[item.id])] if heard[item.id] else []
        if item.direction == "transfer":
            similarity = _similarity(output_vectors.get(item.id), source_vectors.get(item.id))
            similarities.append(similarity)
            results[item.id].details["similarity"] = round(similarity, 4)
            parts.append(max(0.0, similarity))
        if parts:
            results[item.id].content_register = sum(parts) / len(parts)
    transfers = [i for i in voiced if i.direction == "transfer"]
    return ContentRegister(
        score=mean([results[i.id].content_register for i in voiced]),
        items=sum(results[i.id].content_register is not None for i in voiced),
        labels=labels,
        transfer_items=len(transfers),
        transfer_similarity=mean(list(similarities)),
        transfer_voice=mean(heard_style.get(i.id) for i in transfers),
    )


def _similarity(output: np.ndarray | None, source: np.ndarray | None) -> float:
    """Cosine of two unit vectors; 0 for an empty output (its vector is zero or missing)."""
    if output is None or source is None:
        return 0.0
    return float(output @ source)

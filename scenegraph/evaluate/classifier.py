"""The voice classifier: does an output sound like the style, register and tone it was asked
for? One classifier per label, fitted on the train split's own expressions (never on the
evaluated split): TF-IDF of character 2–5-grams within words (they hear Russian endings and
rhythm marks without a tokenizer) and a logistic regression. Its accuracy on the held-out
references of the evaluated split is reported beside every score it gives: an output cannot
be heard better than the classifier hears the data itself.

Only worded forms (text, gesture, sound) are heard; a label value with fewer than
``MIN_EXAMPLES`` train expressions is not a class, and a label with fewer than two classes is
not checked.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from ..quality.words import WORDED_FORMS
from .items import Item

LABELS: tuple[str, ...] = ("style", "register", "tone")
MIN_EXAMPLES = 3
REGULARISATION = 10.0


@dataclass
class VoiceClassifier:
    label: str
    classes: list[str]
    pipeline: Pipeline

    def predict(self, texts: list[str]) -> list[str]:
        return [str(value) for value in self.pipeline.predict(texts)] if texts else []

    def asked(self, item: Item) -> str | None:
        """The value of the label the item asks for, when this classifier knows it."""
        value = getattr(item, self.label)
        return value if item.form in WORDED_FORMS and value in self.classes else None


def expression_texts(items: list[Item]) -> list[tuple[str, Item]]:
    """Each expression of the rows once, with a row that names its voice: the answer of a
    forward or transfer row, the question of a reverse one."""
    seen: dict[str, tuple[str, Item]] = {}
    for item in items:
        text = item.question if item.direction == "reverse" else item.expected
        seen.setdefault(item.expression_id, (text, item))
    return list(seen.values())


def fit_classifiers(train: list[Item]) -> dict[str, VoiceClassifier]:
    """A classifier per label the train split has two classes of."""
    examples = [(text, item) for text, item in expression_texts(train) if item.form in WORDED_FORMS]
    out = {}
    for label in LABELS:
        counts = Counter(getattr(item, label) for _, item in examples if getattr(item, label))
        classes = sorted(value for value, n in counts.items() if n >= MIN_EXAMPLES)
        if len(classes) < 2:
            continue
        chosen = [(text, getattr(item, label)) for text, item in examples]
        chosen = [(text, value) for text, value in chosen if value in classes]
        pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            LogisticRegression(C=REGULARISATION, max_iter=2000),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on small corpora
            pipeline.fit([t for t, _ in chosen], [v for _, v in chosen])
        out[label] = VoiceClassifier(label, classes, pipeline)
    return out


def agreement(classifier: VoiceClassifier, pairs: list[tuple[str, Item]]) -> list[bool]:
    """For each (text, item) whose asked value the classifier knows: is it what it hears?
    (An empty text is heard as nothing.)"""
    known = [(text, classifier.asked(item)) for text, item in pairs]
    known = [(text, value) for text, value in known if value is not None]
    heard = classifier.predict([text for text, _ in known])
    return [bool(text.strip()) and said == value for said, (text, value) in zip(heard, known)]

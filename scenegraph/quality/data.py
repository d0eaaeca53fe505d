"""What the checks read, loaded once per run: scenes, active expressions, their vectors from
the store's FAISS indexes (``scenegraph embed`` made them; nothing is embedded twice), and a
character n-gram space that sees Russian inflections the English default model misses."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from ..graph.base import Store
from ..models import Expression, Scene
from ..vectors import load_vectors, scene_text

CHUNK = 2048  # rows per block when comparing every expression with every scene


@dataclass
class CheckData:
    scenes: dict[str, Scene]
    expressions: list[Expression]  # active ones, by id
    vectors: np.ndarray  # row i is expressions[i] (zeros when not embedded)
    scene_ids: list[str]  # scenes that have a vector
    scene_vectors: np.ndarray
    position: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.position = {expr.id: row for row, expr in enumerate(self.expressions)}
        self.scene_row = {scene_id: row for row, scene_id in enumerate(self.scene_ids)}

    @classmethod
    def load(cls, store: Store) -> CheckData:
        scenes = {scene.id: scene for scene in store.scenes()}
        expressions = store.expressions()
        ids, matrix = load_vectors(store, "expression")
        row = {expr_id: i for i, expr_id in enumerate(ids)}
        vectors = np.zeros((len(expressions), matrix.shape[1]), dtype=np.float32)
        for i, expr in enumerate(expressions):
            if expr.id in row:
                vectors[i] = matrix[row[expr.id]]
        scene_ids, scene_vectors = load_vectors(store, "scene")
        return cls(scenes, expressions, vectors, scene_ids, scene_vectors)

    def scenes_of(self, expr: Expression) -> list[Scene]:
        return [self.scenes[sid] for sid in expr.scene_ids if sid in self.scenes]

    # -- the character n-gram space ----------------------------------------------------

    @cached_property
    def lexical(self) -> TfidfVectorizer:
        """TF-IDF of character 3–5-grams within words, fitted on every expression and scene."""
        texts = [e.text for e in self.expressions] + self.scene_texts
        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, dtype=np.float32
        ).fit(texts)

    @cached_property
    def scene_texts(self) -> list[str]:
        return [
            scene_text(self.scenes[sid]) if sid in self.scenes else "" for sid in self.scene_ids
        ]

    @cached_property
    def expression_lex(self) -> sparse.csr_matrix:
        """One L2-normalised row per expression."""
        return self.lexical.transform([e.text for e in self.expressions]).tocsr()

    @cached_property
    def scene_lex(self) -> sparse.csr_matrix:
        return self.lexical.transform(self.scene_texts).tocsr()

    def scene_similarities(self, rows: list[int]):
        """(embedding, character n-gram) cosine of the given expressions with every scene, in
        blocks of ``CHUNK`` rows: yields (rows of the block, two dense matrices)."""
        for start in range(0, len(rows), CHUNK):
            block = rows[start : start + CHUNK]
            semantic = self.vectors[block] @ self.scene_vectors.T
            lexical = (self.expression_lex[block] @ self.scene_lex.T).toarray()
            yield block, semantic, lexical

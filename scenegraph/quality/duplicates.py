"""Near-duplicates (rule 3, second half): two expressions that say the same thing train the
adapter twice on one pair.

* *Surface* duplicates: the Jaccard similarity of character 3-shingles. MinHash signatures
  with LSH banding find the candidate pairs without comparing all of them; the exact Jaccard of
  the candidates decides. Works for every form (an emoji line repeated is a duplicate too).
* *Paraphrase* duplicates: texts of at least three words whose mean of embedding cosine and
  character n-gram cosine is high. Candidates are each text's nearest neighbours by embedding.
  The n-gram half keeps the English default model from calling every two Russian sentences
  alike; signs-only lines are left out (the model sees them all as one unknown token).

Of each group the best is kept — a corpus-authored expression before a generated one, then the
higher score of the other rules — and the rest fail, naming the one kept.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import faiss
import numpy as np

from .data import CheckData
from .options import Thresholds
from .results import RuleResult
from .words import fold, words

SHINGLE = 3
PERMUTATIONS = 128
BANDS = 32  # × 4 rows: a pair at Jaccard 0.7 becomes a candidate with p > 0.999
MERSENNE = (1 << 31) - 1
PARAPHRASE_MIN_WORDS = 3
NEIGHBOURS = 10
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Link:
    """A duplicate relation between two expressions (rows of the data)."""

    a: int
    b: int
    kind: str  # surface | paraphrase
    similarity: float


# -- surface: MinHash ---------------------------------------------------------------------


def shingles(text: str) -> set[str]:
    """Character 3-grams of the folded, space-collapsed text (the whole text when shorter)."""
    text = _SPACE.sub(" ", fold(text)).strip()
    if len(text) <= SHINGLE:
        return {text} if text else set()
    return {text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)}


class MinHasher:
    """Signatures of ``PERMUTATIONS`` universal hashes (a·x + b mod 2^31−1) of shingle CRCs."""

    def __init__(self, seed: int = 0, permutations: int = PERMUTATIONS):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, MERSENNE, permutations, dtype=np.uint64)
        self.b = rng.integers(0, MERSENNE, permutations, dtype=np.uint64)

    def signature(self, grams: set[str]) -> np.ndarray:
        if not grams:
            return np.full(len(self.a), MERSENNE, dtype=np.uint64)
        x = np.fromiter((zlib.crc32(g.encode()) % MERSENNE for g in grams), dtype=np.uint64)
        return ((np.outer(x, self.a) + self.b) % MERSENNE).min(axis=0)


def lsh_candidates(signatures: np.ndarray, bands: int = BANDS) -> set[tuple[int, int]]:
    """Pairs of rows whose signatures agree on all rows of at least one band."""
    rows = signatures.shape[1] // bands
    pairs: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        for i, key in enumerate(signatures[:, band * rows : (band + 1) * rows]):
            buckets.setdefault(key.tobytes(), []).append(i)
        for members in buckets.values():
            pairs.update((p, q) for k, p in enumerate(members) for q in members[k + 1 :])
    return pairs


def surface_links(texts: list[str], threshold: float, seed: int = 0) -> list[Link]:
    grams = [shingles(text) for text in texts]
    hasher = MinHasher(seed)
    signatures = (
        np.vstack([hasher.signature(g) for g in grams])
        if grams
        else np.zeros((0, PERMUTATIONS), dtype=np.uint64)
    )
    links = []
    for a, b in sorted(lsh_candidates(signatures)):
        jaccard = len(grams[a] & grams[b]) / max(1, len(grams[a] | grams[b]))
        if jaccard >= threshold:
            links.append(Link(a, b, "surface", jaccard))
    return links


# -- paraphrase: embedding + character n-grams ---------------------------------------------


def paraphrase_links(data: CheckData, threshold: float) -> list[Link]:
    rows = [
        i
        for i, e in enumerate(data.expressions)
        if len(words(e.text)) >= PARAPHRASE_MIN_WORDS and data.vectors[i].any()
    ]
    if len(rows) < 2:
        return []
    vectors = np.ascontiguousarray(data.vectors[rows])
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    semantic, neighbours = index.search(vectors, min(NEIGHBOURS + 1, len(rows)))
    pairs = {
        (min(i, j), max(i, j)): float(score)
        for i, (scores, found) in enumerate(zip(semantic, neighbours))
        for score, j in zip(scores, found)
        if j >= 0 and j != i
    }
    links = []
    for (i, j), score in sorted(pairs.items()):
        a, b = rows[i], rows[j]
        lexical = float(data.expression_lex[a].multiply(data.expression_lex[b]).sum())
        similarity = (score + lexical) / 2
        if similarity >= threshold:
            links.append(Link(a, b, "paraphrase", similarity))
    return links


# -- keeping the best of each group ---------------------------------------------------------


def find_duplicates(
    data: CheckData, thresholds: Thresholds, quality: Callable[[int], float], seed: int = 0
) -> dict[str, RuleResult]:
    """One result per expression: kept (passes) or a duplicate of a kept one (fails).
    ``quality(row)`` ranks the members of a group; the corpus' own expressions come first."""
    links = surface_links([e.text for e in data.expressions], thresholds.surface_jaccard, seed)
    links += paraphrase_links(data, thresholds.paraphrase_similarity)
    order = sorted(
        range(len(data.expressions)),
        key=lambda row: (
            data.expressions[row].provenance.get("source") != "corpus",
            -quality(row),
            data.expressions[row].id,
        ),
    )
    return _keep_best(data, order, links)


def _keep_best(data: CheckData, order: Iterable[int], links: list[Link]) -> dict[str, RuleResult]:
    """Walk the expressions best first; one linked to an already kept one is its duplicate."""
    linked: dict[int, list[Link]] = {}
    for link in links:
        linked.setdefault(link.a, []).append(link)
        linked.setdefault(link.b, []).append(link)
    kept: set[int] = set()
    results = {}
    for row in order:
        matches = [link for link in linked.get(row, []) if _other(link, row) in kept]
        expr = data.expressions[row]
        if not matches:
            kept.add(row)
            results[expr.id] = RuleResult(1.0, True)
            continue
        best = max(matches, key=lambda link: link.similarity)
        original = data.expressions[_other(best, row)]
        results[expr.id] = RuleResult(
            round(1.0 - best.similarity, 4),
            False,
            f"near-duplicate ({best.kind}, {best.similarity:.2f}) of {original.id} "
            f"«{_clip(original.text)}»",
            [f"duplicate-{best.kind}"],
            {"duplicate_of": original.id, "similarity": round(best.similarity, 4)},
        )
    return results


def _other(link: Link, row: int) -> int:
    return link.b if link.a == row else link.a


def _clip(text: str, size: int = 40) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"

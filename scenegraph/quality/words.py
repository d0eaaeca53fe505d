"""Words for the checks: tokens, crude stems that survive Russian and English endings, and
which forms of expression are prose (words a reader reads) and which are notation."""

from __future__ import annotations

import re
import unicodedata

# Forms written as sentences: the lived and voice rules read them.
PROSE_FORMS = frozenset({"text", "gesture"})
# Forms that may carry words but are patterns: commentary can still creep in.
WORDED_FORMS = PROSE_FORMS | {"sound"}
# Notation (signs, formulas, colour codes): only redundancy applies.
NOTATION_FORMS = frozenset({"symbolic", "formula", "colour"})

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)
SHORT_WORD = 4  # words this short are matched whole (plus an ending)
ENDING = 3  # letters an inflection may add


def fold(text: str) -> str:
    """Lower case, NFC, ё as е: the spelling every comparison uses."""
    return unicodedata.normalize("NFC", text).lower().replace("ё", "е")


def words(text: str) -> list[str]:
    """The words of ``text`` (letters only, hyphenated words kept whole), folded."""
    return _WORD.findall(fold(text))


def tokens(text: str) -> list[str]:
    """Words, numbers and single signs (emoji, arrows): what distinct-n counts."""
    return _TOKEN.findall(fold(text))


def stem(word: str) -> str:
    """A prefix that inflected forms share: the whole of a short word, else minus two letters."""
    word = fold(word)
    return word if len(word) <= SHORT_WORD else word[:-2]


def mentions(text_words: list[str], name: str) -> bool:
    """Whether every word of ``name`` (a component like 'внутренний жар') occurs in the text,
    in any inflection: the text word starts with the name word's stem and adds little."""
    name_words = [w for w in words(name) if len(w) > 2] or words(name)
    return bool(name_words) and all(
        any(w.startswith(stem(n)) and len(w) <= len(n) + ENDING for w in text_words)
        for n in name_words
    )

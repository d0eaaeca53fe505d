"""Small text helpers shared by every module: Unicode normalisation, language guess, hashes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import orjson

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")


def nfc(value: str) -> str:
    """NFC-normalised, stripped text: `й` typed as one code point or as `и` + breve is one name."""
    return unicodedata.normalize("NFC", value).strip()


def guess_lang(*texts: str | None) -> str | None:
    """'ru' when the texts have Cyrillic letters, 'en' when they have Latin ones, else None."""
    for text in texts:  # loops, not any(): this runs for every scene and expression loaded
        if text and _CYRILLIC.search(text):
            return "ru"
    for text in texts:
        if text and _LATIN.search(text):
            return "en"
    return None


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, UTF-8 kept) for hashing and storage."""
    return _canonical(value).decode("utf-8")


def content_hash(value: Any, length: int = 16) -> str:
    """A short SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(_canonical(value)).hexdigest()[:length]


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)

"""The KEYS protocol: a request ends with a ``KEYS: [...]`` line naming the outputs it wants, and
the model answers ``{"outputs": [{"key": …, "text": …}]}``. Generation and the quality judge
both ask this way.

The reader is tolerant: models wrap JSON in code fences, add a sentence before or after it,
drop a key, invent one, or stop mid-way. It takes the first JSON object it can decode anywhere
in the answer, accepts ``{"outputs": [...]}``, a bare list of outputs or a ``{key: text}``
mapping, keeps the outputs whose key was asked for, and says which keys are missing and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

_FENCE = re.compile(r"```[a-zA-Z]*")
_DECODER = json.JSONDecoder()


def keys_line(keys: Sequence[str]) -> str:
    """The line that ends a request's last user message: the keys its answer must fill."""
    return "\n\nKEYS: " + json.dumps(list(keys), ensure_ascii=False)


@dataclass
class Parsed:
    texts: dict[str, str] = field(default_factory=dict)  # key -> text, only keys asked for
    missing: list[str] = field(default_factory=list)
    problem: str | None = None  # why something is missing

    def merge(self, later: Parsed) -> Parsed:
        """This answer completed by a later one (the re-ask for what was missing)."""
        texts = {**self.texts, **later.texts}
        return Parsed(texts, [k for k in self.missing if k not in texts], later.problem)


def parse_outputs(content: str | None, keys: list[str], finish_reason: str | None = None) -> Parsed:
    """The texts for ``keys`` found in ``content``."""
    data = first_json_value(content or "")
    wanted = set(keys)
    texts = {key: text for key, text in _pairs(data) if key in wanted}
    missing = [key for key in keys if key not in texts]
    return Parsed(
        texts, missing, _problem(content, data, missing, finish_reason) if missing else None
    )


def first_json_value(content: str) -> Any:
    """The first JSON object or list that decodes in ``content`` (fences and chatter ignored).

    An answer that is one JSON object or list and nothing else (what JSON mode gives) is read
    with orjson in one call; anything else, or what orjson refuses (NaN, lone surrogates, huge
    integers), goes through the tolerant scan."""
    if content[:1] in ("{", "["):
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(value, (dict, list)):
                return value
    text = _FENCE.sub("", content)
    for start, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = _DECODER.raw_decode(text, start)
            except ValueError:
                continue
            if isinstance(value, (dict, list)):
                return value
    return None


def _pairs(data: Any) -> list[tuple[str, str]]:
    """(key, text) pairs from any of the accepted shapes; empty texts dropped."""
    if isinstance(data, dict) and isinstance(data.get("outputs"), list):
        data = data["outputs"]
    if isinstance(data, dict) and "key" in data and "text" in data:
        data = [data]  # a single output, or the first one salvaged from a broken list
    if isinstance(data, dict):
        entries = [{"key": k, "text": v} for k, v in data.items()]
    elif isinstance(data, list):
        entries = [e for e in data if isinstance(e, dict)]
    else:
        entries = []
    return [
        (e["key"], e["text"].strip())
        for e in entries
        if isinstance(e.get("key"), str) and isinstance(e.get("text"), str) and e["text"].strip()
    ]


def _problem(content: str | None, data: Any, missing: list[str], finish_reason: str | None) -> str:
    if not (content or "").strip():
        return "the answer was empty"
    if data is None:
        cut = " (cut off: the answer hit max_tokens)" if finish_reason == "length" else ""
        return f"the answer was not valid JSON{cut}"
    return f"no output for {', '.join(missing)}"

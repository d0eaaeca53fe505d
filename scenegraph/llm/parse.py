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
from typing import Any

import msgspec
import orjson

_FENCE = re.compile(r"```[a-zA-Z]*")
_DECODER = json.JSONDecoder()


def keys_line(keys: Sequence[str]) -> str:
    """The line that ends a request's last user message: the keys its answer must fill."""
    return "\n\nKEYS: " + json.dumps(list(keys), ensure_ascii=False)


class Parsed(msgspec.Struct):  # one is made per answer: a struct is built in C
    texts: dict[str, str] = {}  # key -> text, only keys asked for (each struct gets its own)
    missing: list[str] = []
    problem: str | None = None  # why something is missing

    def merge(self, later: Parsed) -> Parsed:
        """This answer completed by a later one (the re-ask for what was missing)."""
        texts = {**self.texts, **later.texts}
        return Parsed(texts, [k for k in self.missing if k not in texts], later.problem)


class _Output(msgspec.Struct):
    key: str
    text: str


class _Answer(msgspec.Struct):  # the shape JSON mode gives; other fields are ignored
    outputs: list[_Output]


_ANSWER = msgspec.json.Decoder(_Answer)


def parse_outputs(content: str | None, keys: list[str], finish_reason: str | None = None) -> Parsed:
    """The texts for ``keys`` found in ``content``.

    An answer in the shape JSON mode gives (``{"outputs": [{"key": str, "text": str}, …]}`` and
    nothing else) is decoded straight into typed outputs, one call for a whole answer; any other
    answer, or one with an output that is not two strings, goes through the tolerant reader,
    which finds the same outputs in an answer both can read."""
    text = content or ""
    data: Any
    try:
        data = _ANSWER.decode(text)
        outputs = data.outputs
    except msgspec.DecodeError:
        data = first_json_value(text)
        outputs = _outputs(data)
    texts = _texts(outputs, keys)
    if len(texts) == len(keys):  # texts holds only keys asked for: every one was found
        return Parsed(texts, [], None)
    missing = [key for key in keys if key not in texts]
    return Parsed(
        texts, missing, _problem(content, data, missing, finish_reason) if missing else None
    )


def first_json_value(content: str) -> Any:
    """The first JSON object or list that decodes in ``content`` (fences and chatter ignored).

    An answer that is one JSON object or list and nothing else is read with orjson in one call;
    anything else, or what orjson refuses (NaN, lone surrogates, huge integers), goes through
    the tolerant scan."""
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


def _outputs(data: Any) -> list[_Output]:
    """The outputs in any of the accepted shapes; entries whose key or text is not a string
    are dropped."""
    if isinstance(data, dict):
        outputs = data.get("outputs")
        entries = outputs if isinstance(outputs, list) else _entries(data)
    elif isinstance(data, list):
        entries = data
    else:
        return []
    return [
        _Output(entry["key"], entry["text"])
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("key"), str)
        and isinstance(entry.get("text"), str)
    ]


def _texts(outputs: list[_Output], keys: list[str]) -> dict[str, str]:
    """key -> text for the keys asked for, in one pass (this runs once an answer: 50,000 times
    a batch); empty texts dropped, a key's last output wins."""
    wanted = keys if len(keys) < 8 else set(keys)  # a set pays off only for long lists
    texts = {}
    for output in outputs:
        if output.key in wanted:
            text = output.text.strip()
            if text:
                texts[output.key] = text
    return texts


def _entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A single output (or the first one salvaged from a broken list), or a {key: text} map."""
    if "key" in data and "text" in data:
        return [data]
    return [{"key": k, "text": v} for k, v in data.items()]


def _problem(content: str | None, data: Any, missing: list[str], finish_reason: str | None) -> str:
    if not (content or "").strip():
        return "the answer was empty"
    if data is None:
        cut = " (cut off: the answer hit max_tokens)" if finish_reason == "length" else ""
        return f"the answer was not valid JSON{cut}"
    return f"no output for {', '.join(missing)}"

"""The fast paths of batch mode give what the full paths give: a batch's JSONL (each line's
frame serialized once) is byte for byte the lines serialized whole; a result line decoded into
typed fields is the result the tolerant reader makes of it (or the same error); and the KEYS
reader finds what the reader it replaced found, for every shape and every odd input."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scenegraph.llm.base import Ask
from scenegraph.llm.batch import BatchRequest
from scenegraph.llm.openai_batch import OpenAIBatch, parse_results, result_of
from scenegraph.llm.openai_chat import OpenAIProvider
from scenegraph.llm.parse import Parsed, first_json_value, parse_outputs

# -- the JSONL -----------------------------------------------------------------------------


def whole_lines(client: OpenAIBatch, requests: list[BatchRequest]) -> bytes:
    """The input file as each line serialized whole: what ``jsonl`` must equal."""
    return b"".join(
        orjson.dumps({"custom_id": r.custom_id, "method": "POST", "url": "/v1/chat/completions",
                      "body": client.provider.body(r.ask)}) + b"\n"
        for r in requests)


def provider(**settings: Any) -> OpenAIProvider:
    return OpenAIProvider(model="gpt-x", api_key="sk-test", key_env="K", **settings)


ODD = ["", "\0id-a", '"},{"', "\\u0000", "поэт/1 «цитата»\n\t", "\ud7ff\U0001f600", "\0messages-a"]


def requests_with_odd_text() -> list[BatchRequest]:
    """Ids and messages that hold quotes, escapes, NULs and the probes' own markers."""
    return [BatchRequest(f"r{i}{text}", Ask([f"k{i}", text], [
        {"role": "system", "content": text * 3},
        {"role": "user", "content": f"{i}: {text}"}], {"k": text}))
        for i, text in enumerate(ODD)]


@pytest.mark.parametrize("settings", [{}, {"seed": 7}, {"json_mode": False},
                                      {"temperature": 0.0, "max_tokens": 1}])
def test_jsonl_is_the_lines_serialized_whole(settings):
    client = OpenAIBatch(provider(**settings))
    requests = requests_with_odd_text()
    assert client._frame(requests[:1]) is not None  # the fast path is the one taken
    assert client.jsonl(requests) == whole_lines(client, requests)
    assert client.jsonl([]) == b""


class KeyedBody(OpenAIProvider):
    """A body that depends on more than the messages: no frame fits it."""

    def body(self, ask: Ask) -> dict[str, Any]:
        return {**super().body(ask), "metadata": {"keys": ask.keys}}


class SystemApart(OpenAIProvider):
    """A body whose messages are not the ask's as they are."""

    def body(self, ask: Ask) -> dict[str, Any]:
        body = super().body(ask)
        body["messages"] = [m for m in ask.messages if m["role"] != "system"]
        return body


@pytest.mark.parametrize("kind", [KeyedBody, SystemApart])
def test_jsonl_serializes_whole_lines_when_no_frame_fits(kind):
    client = OpenAIBatch(kind(model="m", api_key="sk-test", key_env="K"))
    requests = requests_with_odd_text()
    assert client._frame(requests[:1]) is None
    assert client.jsonl(requests) == whole_lines(client, requests)


# -- the result lines ----------------------------------------------------------------------


def answer_line(**changes: Any) -> dict[str, Any]:
    body = {"id": "c", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"a": 1}'},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3}}
    line = {"id": "b", "custom_id": "r1", "response": {"status_code": 200, "body": body},
            "error": None}
    for path, shared in changes.items():
        # sampled values are shared objects: a copy each, so no aliasing and no cycles
        value = shared if shared is DROP else copy.deepcopy(shared)
        *parents, last = path.split("__")
        target: Any = line
        for name in parents:
            target = target[int(name)] if isinstance(target, list) else target[name]
        if value is DROP:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return line


DROP = object()
PATHS = ["custom_id", "error", "response", "response__status_code", "response__body",
         "response__body__error", "response__body__choices", "response__body__choices__0",
         "response__body__choices__0__message", "response__body__choices__0__message__content",
         "response__body__choices__0__finish_reason", "response__body__usage",
         "response__body__usage__prompt_tokens", "response__body__usage__completion_tokens"]
VALUES = st.sampled_from([DROP, None, 0, 200, 200.0, 429, 500, 400, "", "x", True, [], [{}],
                          {}, {"code": "server_error", "message": "down"},
                          {"code": "invalid_request", "message": "no"}, {"message": None},
                          {"content": "hi"}, {"content": None}, [{"message": {"content": "y"}}]])


def same_outcome(line: dict[str, Any]) -> None:
    """The file's line read as ``parse_results`` reads it (the typed fast path first) gives
    what the full reader gives for the line."""
    read_fast = lambda: list(parse_results(orjson.dumps(line)))  # noqa: E731
    try:
        expected: Any = result_of(line)
    except Exception as exc:  # the full reader refuses the line: the fast one must too
        with pytest.raises(type(exc)):
            read_fast()
        return
    assert read_fast() == [expected]
    assert type(read_fast()[0].completion) is type(expected.completion)


@given(st.dictionaries(st.sampled_from(PATHS), VALUES, max_size=3))
@example({})
@example({"response__body__choices__0__message__content": None})
@example({"error": {"code": "batch_expired", "message": "late"}})
@example({"response__body__error": {"code": "server_error", "message": "down"}})
@example({"response__status_code": 200.0})
@example({"response__body__usage": None})
@example({"response__body__choices": []})
def test_a_result_line_read_fast_is_the_result_the_full_reader_gives(changes):
    try:
        line = answer_line(**changes)
    except (KeyError, IndexError, TypeError, ValueError):  # below a change already applied
        return
    same_outcome(line)


def test_every_kind_of_line_is_classified_as_before():
    answered = result_of(answer_line())
    assert (answered.custom_id, answered.completion.text, answered.completion.finish_reason,
            answered.completion.prompt_tokens, answered.error) == ("r1", '{"a": 1}', "stop", 9,
                                                                   None)
    expired = result_of(answer_line(response=None,
                                    error={"code": "batch_expired", "message": "late"}))
    assert (expired.completion, expired.error, expired.retry) == (None, "batch_expired: late", True)
    refused = result_of(answer_line(response__status_code=400, response__body={
        "error": {"code": "invalid_request_error", "message": "bad"}}))
    assert (refused.error, refused.retry) == ("invalid_request_error: bad", False)
    down = result_of(answer_line(response__status_code=503, response__body={}))
    assert (down.error, down.retry) == ("503: no answer", True)


# -- the KEYS reader -----------------------------------------------------------------------


def reference_parse(content: str | None, keys: list[str], finish: str | None = None) -> Parsed:
    """The reader as it was before its one-pass rewrite (``_pairs`` then a filter)."""
    data = first_json_value(content or "")
    if isinstance(data, dict) and isinstance(data.get("outputs"), list):
        data = data["outputs"]
    if isinstance(data, dict) and "key" in data and "text" in data:
        data = [data]
    if isinstance(data, dict):
        entries = [{"key": k, "text": v} for k, v in data.items()]
    elif isinstance(data, list):
        entries = [e for e in data if isinstance(e, dict)]
    else:
        entries = []
    pairs = [(e["key"], e["text"].strip()) for e in entries
             if isinstance(e.get("key"), str) and isinstance(e.get("text"), str)
             and e["text"].strip()]
    wanted = set(keys)
    texts = {key: text for key, text in pairs if key in wanted}
    missing = [key for key in keys if key not in texts]
    if not missing:
        return Parsed(texts, missing, None)
    if not (content or "").strip():
        problem = "the answer was empty"
    elif data is None:
        cut = " (cut off: the answer hit max_tokens)" if finish == "length" else ""
        problem = f"the answer was not valid JSON{cut}"
    else:
        problem = f"no output for {', '.join(missing)}"
    return Parsed(texts, missing, problem)


KEYS = ["a", "b", "поэт/1"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(KEYS),
                    st.sampled_from(["", "  ", " text ", "x", "outputs", "key", "\t\n"]))
entries = st.one_of(
    st.fixed_dictionaries({"key": st.one_of(st.sampled_from(KEYS + ["zz"]), scalars),
                           "text": scalars}, optional={"extra": scalars}),
    scalars, st.lists(scalars, max_size=2))
answers = st.one_of(
    st.fixed_dictionaries({"outputs": st.one_of(st.lists(entries, max_size=5), scalars)},
                          optional={"key": scalars, "text": scalars}),
    st.lists(entries, max_size=5),
    st.dictionaries(st.sampled_from(KEYS + ["key", "text", "outputs"]), scalars, max_size=4),
    entries)
WRAPS = ["{}", " {} ", "```json\n{}\n```", "Here you go: {} Thanks!", "{}{}", "{}\n", "[{}",
         "{}]"]


@given(answers, st.sampled_from(WRAPS), st.lists(st.sampled_from(KEYS), max_size=4),
       st.sampled_from([None, "stop", "length"]))
@example({"outputs": [{"key": "a", "text": "x"}, {"key": "a", "text": " "}]}, "{}", ["a"], None)
@example({"outputs": [{"key": "a", "text": "x"}]}, "{}", ["a", "a"], None)
@example({"outputs": [{"key": "a", "text": "x"}, {"key": "a", "text": "y"}]}, "{}", ["a"], None)
@example({"key": "a", "text": "x", "outputs": 3}, "{}", ["a", "b"], None)
@example([{"key": "a", "text": " x "}, 7, {"key": 1, "text": "y"}], "{}", ["a"], "stop")
def test_the_keys_reader_finds_what_it_found_before(answer, wrap, keys, finish):
    content = wrap.replace("{}", json.dumps(answer, ensure_ascii=False), 1)
    assert parse_outputs(content, keys, finish) == reference_parse(content, keys, finish)


@pytest.mark.parametrize("content", [
    None, "", "   ", "not json", '{"outputs": [{"key": "a", "text": "x"}', '{"a": NaN, "b": "y"}',
    '{"outputs": [{"key": "a", "text": "\\ud800"}]}', '[{"key": "a", "text": "x"}] trailing',
    '{"a": ' + "9" * 400 + ', "b": "y"}', "```\n" + '{"b": "y"}' + "\n```"])
def test_odd_answers_go_through_the_tolerant_reader_as_before(content):
    for finish in (None, "length"):
        assert parse_outputs(content, ["a", "b"], finish) == reference_parse(content, ["a", "b"],
                                                                            finish)


def test_a_clean_answer_and_a_chatty_one_give_the_same_texts():
    clean = '{"outputs": [{"key": "a", "text": " x "}, {"key": "b", "text": "y"}]}'
    for content in (clean, f"Sure!\n```json\n{clean}\n```\nDone."):
        parsed = parse_outputs(content, ["a", "b"])
        assert (parsed.texts, parsed.missing, parsed.problem) == ({"a": "x", "b": "y"}, [], None)
    assert re.fullmatch(r"no output for b", parse_outputs('{"a": "x"}', ["a", "b"]).problem or "")

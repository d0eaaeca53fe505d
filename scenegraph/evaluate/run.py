"""Asking the model: every item once, journaled, resumable.

Each answer is recorded in the journal (``llm.journal.Journal``'s answer cache, in a file of
the evaluation's own) the moment it arrives, under a key of everything it depends on: the
provider, its model and parameters, and the messages (or, for an offline provider, the text it
answers with). A run asks only for the items whose key has no answer yet, so a killed
evaluation re-run asks nothing twice; an item the model failed on (retries spent, or rejected)
is left unanswered, reported, and asked again next time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ..llm.base import Ask, Provider
from ..llm.journal import Answer, Journal
from ..llm.parse import parse_outputs
from ..llm.retry import GaveUp, RetryPolicy, call_with_retries
from ..text import content_hash
from .items import Item

Progress = Callable[[int, int], None]  # (items done, items in all)


@dataclass
class Answers:
    texts: dict[str, str] = field(default_factory=dict)  # item id -> the model's answer
    failures: dict[str, str] = field(default_factory=dict)  # item id -> why there is none
    asked: int = 0
    recovered: int = 0


def answer_key(provider: Provider, item: Item, offline: str | None) -> str:
    """The journal key of an item's answer: what the answer depends on, nothing else."""
    asked = offline if not provider.reads_prompt else item.messages
    return "evaluate:" + content_hash(
        [provider.name, provider.model, provider.params(), asked], length=32
    )


def answer_items(
    items: list[Item],
    provider: Provider,
    journal: Journal,
    policy: RetryPolicy,
    concurrency: int,
    offline: dict[str, str] | None = None,
    progress: Progress | None = None,
    seed: int = 0,
) -> Answers:
    """Every item's answer, from the journal where it has one, else from the provider.

    ``offline`` gives, for a provider that does not read the prompt (reference, template),
    the text of each item it answers with."""
    return asyncio.run(
        _answer_all(items, provider, journal, policy, concurrency, offline or {}, progress, seed)
    )


async def _answer_all(
    items: list[Item],
    provider: Provider,
    journal: Journal,
    policy: RetryPolicy,
    concurrency: int,
    offline: dict[str, str],
    progress: Progress | None,
    seed: int,
) -> Answers:
    keys = {item.id: answer_key(provider, item, offline.get(item.id)) for item in items}
    stored = journal.answers(keys.values())
    answers = Answers()
    for item in items:
        if (payload := stored.get(keys[item.id])) is not None:
            answers.texts[item.id] = payload["text"]
    answers.recovered = len(answers.texts)
    pending = [item for item in items if item.id not in answers.texts]
    tell = progress or (lambda done, total: None)
    tell(answers.recovered, len(items))
    places = asyncio.Semaphore(concurrency)
    rng = random.Random(seed)

    async def one(item: Item) -> None:
        async with places:
            ask = Ask([item.id], item.messages, {item.id: offline.get(item.id, "")})
            answers.asked += 1
            try:
                completion = await call_with_retries(provider, ask, policy, rng)
            except GaveUp as exc:
                answers.failures[item.id] = str(exc)
            else:
                text = _read(provider, item, completion.text)
                answers.texts[item.id] = text
                journal.record_answer(
                    Answer(
                        keys[item.id],
                        provider.model,
                        {"text": text, "finish_reason": completion.finish_reason},
                        completion.prompt_tokens,
                        completion.completion_tokens,
                    )
                )
            tell(len(answers.texts) + len(answers.failures), len(items))

    try:
        await asyncio.gather(*(one(item) for item in pending))
    finally:
        await provider.aclose()
    return answers


def _read(provider: Provider, item: Item, text: str) -> str:
    """The answer as the item expects it: a model's text as it is; an offline provider's
    from the ``{"outputs": [...]}`` it wraps its text in."""
    if provider.reads_prompt:
        return text.strip()
    return parse_outputs(text, [item.id]).texts.get(item.id, "")

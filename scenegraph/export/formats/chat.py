"""Chat formats that fine-tuning tools read as they are.

- ``openai``: OpenAI chat fine-tuning JSONL, ``{"messages": [system, user, assistant]}``. The
  upload takes no other keys, so each file has a sidecar, ``<split>.meta.jsonl``, whose line n
  is ``{"row": n, …}`` with row n's id, direction, scenes and voice.
- ``sharegpt``: ``{"conversations": [{"from": "human"…}, {"from": "gpt"…}], "system": …}``.
- ``alpaca``: ``{"instruction", "input", "output", "system"}``.
- ``prompt-completion``: ``{"prompt": [system, user], "completion": [assistant]}``.

Every format but ``openai`` carries the row's metadata (``pair_meta``) as extra keys: the
tools that read them (LLaMA-Factory, TRL, ``datasets``) keep or drop columns they do not map.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import NEWLINE, JsonLinesFormat, Part

META = ".meta"


def _dumps(row: dict[str, Any]) -> bytes:
    return orjson.dumps(row, option=NEWLINE)


class OpenAIFormat(JsonLinesFormat):
    name = "openai"
    STREAMS = ("", META)

    def streams(self, part: Part) -> list[list[bytes]]:
        return [self.lines(part), [_dumps(meta) for meta in part.meta]]

    def lines(self, part: Part) -> list[bytes]:
        """``{"messages": pair.messages()}`` as orjson writes it, put together from pieces:
        the system prompt's JSON once per direction, the instruction's and the scene's once
        per part (a scene's rows share its text), only the answer's for every row."""
        escaped: dict[str, bytes] = {}  # text -> its JSON string without the quotes

        def esc(text: str) -> bytes:
            found = escaped.get(text)
            if found is None:
                found = escaped[text] = orjson.dumps(text)[1:-1]
            return found

        return [
            b'{"messages":[{"role":"system","content":"%b"},{"role":"user","content":"%b\\n\\n'
            b'%b"},{"role":"assistant","content":%b}]}\n'
            % (
                esc(pair.system),
                esc(pair.instruction),
                esc(pair.input),
                orjson.dumps(pair.completion),
            )
            for pair in part.pairs
        ]

    def finish_block(self, stream: str, first_row: int, lines: list[memoryview]) -> bytes:
        """Sidecar lines get their row number (known only once the split is shuffled) as the
        first key: ``{"id"…`` becomes ``{"row":n,"id"…``."""
        if stream != META:
            return b"".join(lines)
        return b"".join(b'{"row":%d,%s' % (first_row + i, line[1:]) for i, line in enumerate(lines))


class ShareGPTFormat(JsonLinesFormat):
    name = "sharegpt"

    def lines(self, part: Part) -> list[bytes]:
        return [
            _dumps(
                {
                    "conversations": [
                        {"from": "human", "value": pair.prompt},
                        {"from": "gpt", "value": pair.completion},
                    ],
                    "system": pair.system,
                    **meta,
                }
            )
            for pair, meta in zip(part.pairs, part.meta)
        ]


class AlpacaFormat(JsonLinesFormat):
    """The whole user turn is the ``instruction`` and ``input`` stays empty.

    Readers join instruction and input each their own way (LLaMA-Factory with one newline,
    Alpaca's template under two headings), so split in two the prompt would differ from the
    one the chat files train (instruction, a blank line, the input); whole, every reader sees
    the same text."""

    name = "alpaca"

    def lines(self, part: Part) -> list[bytes]:
        return [
            _dumps(
                {
                    "instruction": pair.prompt,
                    "input": "",
                    "output": pair.completion,
                    "system": pair.system,
                    **meta,
                }
            )
            for pair, meta in zip(part.pairs, part.meta)
        ]


class PromptCompletionFormat(JsonLinesFormat):
    """TRL's conversational prompt-completion type: ``prompt`` is the system and user messages,
    ``completion`` the assistant's.

    Conversational rather than plain strings because TRL then renders both with the model's
    own chat template, the one it is prompted with later, and the system prompt stays a system
    turn; plain strings would leave the user to invent a template and to keep it the same at
    inference. ``SFTTrainer`` computes the loss on the completion only for this type by default
    (``completion_only_loss``), so the system prompts and scenes, most of each row's tokens,
    are read but not trained on."""

    name = "prompt-completion"

    def lines(self, part: Part) -> list[bytes]:
        rows = []
        for pair, meta in zip(part.pairs, part.meta):
            *prompt, answer = pair.messages()
            rows.append(_dumps({"prompt": prompt, "completion": [answer], **meta}))
        return rows

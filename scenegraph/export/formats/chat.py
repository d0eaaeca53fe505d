"""Chat formats that fine-tuning tools read as they are.

- ``openai``: OpenAI chat fine-tuning JSONL, ``{"messages": [system, user, assistant]}``.
- ``sharegpt``: ``{"conversations": [{"from": "human"…}, {"from": "gpt"…}], "system": …}``.
- ``alpaca``: ``{"instruction", "input", "output", "system"}``.
"""

from __future__ import annotations

import orjson

from . import JsonLinesFormat, Part

NEWLINE = orjson.OPT_APPEND_NEWLINE


class OpenAIFormat(JsonLinesFormat):
    name = "openai"

    def lines(self, part: Part) -> list[bytes]:
        return [orjson.dumps({"messages": pair.messages()}, option=NEWLINE) for pair in part.pairs]


class ShareGPTFormat(JsonLinesFormat):
    name = "sharegpt"

    def lines(self, part: Part) -> list[bytes]:
        return [
            orjson.dumps(
                {
                    "conversations": [
                        {"from": "human", "value": pair.prompt},
                        {"from": "gpt", "value": pair.completion},
                    ],
                    "system": pair.system,
                },
                option=NEWLINE,
            )
            for pair in part.pairs
        ]


class AlpacaFormat(JsonLinesFormat):
    name = "alpaca"

    def lines(self, part: Part) -> list[bytes]:
        return [
            orjson.dumps(
                {
                    "instruction": pair.instruction,
                    "input": pair.input,
                    "output": pair.completion,
                    "system": pair.system,
                },
                option=NEWLINE,
            )
            for pair in part.pairs
        ]

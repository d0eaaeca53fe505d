"""The offline *template* provider: no model, no network, the same text for the same input.

It fills ``offline.j2`` from the scene's components for each slot and answers in the same
``{"outputs": [...]}`` shape a model would, so the whole pipeline runs unchanged. It exists for
the demo, dry runs, tests of the pipeline and benchmarks; every expression it makes says
``provider: template`` in its provenance.
"""

from __future__ import annotations

import orjson

from ..prompts import OFFLINE_TEMPLATE, Prompts
from .base import Ask, Completion, Provider


class TemplateProvider(Provider):
    name = "template"
    model = "template"
    reads_prompt = False

    def __init__(self, prompts: Prompts):
        self.prompts = prompts

    async def complete(self, ask: Ask) -> Completion:
        outputs = [
            {"key": slot.key, "text": self.prompts.offline(ask.subject, slot)} for slot in ask.slots
        ]
        return Completion(orjson.dumps({"outputs": outputs}).decode(), "stop", 0, 0, 0.0)

    def template_names(self) -> tuple[str, ...]:
        return (OFFLINE_TEMPLATE,)

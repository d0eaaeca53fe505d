"""The offline *template* provider: no model, no network, the same text for the same input.

It answers each key with the text the caller rendered for it (``Ask.offline``; generation fills
``offline.j2`` from the scene's components), in the same ``{"outputs": [...]}`` shape a model
would, so the whole pipeline runs unchanged. It exists for the demo, dry runs, tests of the
pipeline and benchmarks; every expression it makes says ``provider: template`` in its provenance.
"""

from __future__ import annotations

import orjson

from .base import Ask, Completion, Provider


class TemplateProvider(Provider):
    name = "template"
    model = "template"
    reads_prompt = False

    async def complete(self, ask: Ask) -> Completion:
        outputs = [{"key": key, "text": ask.offline[key]} for key in ask.keys]
        return Completion(orjson.dumps({"outputs": outputs}).decode(), "stop", 0, 0, 0.0)

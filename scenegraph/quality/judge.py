"""The optional judge: a model (any OpenAI-compatible endpoint) scores an expression on the four
rules with a rubric prompt (``templates/judge_*.j2``).

It asks in the KEYS protocol (``scenegraph.llm.parse``) — one output per rule,
``"<0–10> — reason"`` — retries under the same policy as generation (``scenegraph.llm.retry``),
and caches every answer in the store's journal (``scenegraph.llm.journal``) under a key of
everything the answer depends on: the rubric's text, the model and its parameters, the
expression and its scenes' content. A re-run asks only about what changed; an answer is written
the moment it arrives, so a killed run loses nothing paid for.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from jinja2 import BaseLoader, Environment, FileSystemLoader, StrictUndefined

from ..graph.base import Store
from ..llm.base import Ask, Messages, Provider
from ..llm.journal import JOURNAL_FILE, Answer, Journal
from ..llm.parse import keys_line, parse_outputs
from ..llm.providers import make_provider
from ..llm.retry import GaveUp, call_with_retries, policy_of
from ..models import COMPONENT_KINDS, Expression, Scene
from ..text import content_hash
from .options import JudgeOptions, Thresholds
from .results import JudgeSummary, RuleResult

JUDGE_RULES = ("lived", "linkage", "redundancy", "voice")
TEMPLATES = Path(__file__).resolve().parent / "templates"
SYSTEM, USER = "judge_system.j2", "judge_user.j2"
_SCORE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:/\s*10)?")
_SEPARATOR = re.compile(r"^[\s—–:\-.,;)]+")


@dataclass
class Case:
    """One expression to judge, with its key in the cache."""

    expression: Expression
    scenes: list[Scene]
    key: str = ""


@dataclass
class JudgeRun:
    provider: Provider
    options: JudgeOptions
    journal: Journal
    summary: JudgeSummary
    env: Environment = field(repr=False)
    rng: random.Random = field(default_factory=random.Random)

    def messages(self, case: Case) -> Messages:
        values = {
            "scenes": [_scene_view(s) for s in case.scenes],
            "expression": case.expression.model_dump(),
        }
        return [
            {"role": "system", "content": self.env.get_template(SYSTEM).render().strip()},
            {
                "role": "user",
                "content": self.env.get_template(USER).render(**values).strip()
                + keys_line(JUDGE_RULES),
            },
        ]

    async def answer(self, case: Case) -> dict[str, Any]:
        """The parsed answer for one case (asked and journaled), or its error when it failed."""
        ask = Ask(list(JUDGE_RULES), self.messages(case))
        try:
            completion = await call_with_retries(
                self.provider, ask, policy_of(self.options), self.rng
            )
        except GaveUp as exc:
            self.summary.failed += 1
            return {"error": str(exc)}
        self.summary.requested += 1
        self.summary.prompt_tokens += completion.prompt_tokens
        self.summary.completion_tokens += completion.completion_tokens
        payload = read_answer(completion.text)
        self.journal.record_answer(
            Answer(
                case.key,
                self.provider.model,
                payload,
                completion.prompt_tokens,
                completion.completion_tokens,
            )
        )
        return payload


def read_answer(text: str) -> dict[str, Any]:
    """Scores (0..1) and reasons per rule from the judge's answer; unreadable rules are left out."""
    parsed = parse_outputs(text, list(JUDGE_RULES))
    scores, reasons = {}, {}
    for rule, value in parsed.texts.items():
        match = _SCORE.search(value)
        if match is None or float(match.group(1).replace(",", ".")) > 10:
            continue
        scores[rule] = round(float(match.group(1).replace(",", ".")) / 10, 3)
        reasons[rule] = _SEPARATOR.sub("", value[match.end() :]).strip() or None
    return {"scores": scores, "reasons": reasons}


def verdict(payload: dict[str, Any] | None, thresholds: Thresholds, model: str) -> RuleResult:
    """The judge's rule entry: the mean of the rules it scored; the weakest one gives the reason."""
    if payload is None:
        return RuleResult.skipped("not judged: it failed an automatic rule")
    if "error" in payload:
        return RuleResult.skipped(f"the judge failed: {payload['error']}")
    scores: dict[str, float] = payload.get("scores") or {}
    if not scores:
        return RuleResult.skipped("the judge's answer had no readable scores")
    score = sum(scores.values()) / len(scores)
    weakest = min(scores, key=scores.__getitem__)
    why = (payload.get("reasons") or {}).get(weakest)
    passed = score >= thresholds.judge_min
    reason = (
        None
        if passed
        else f"judge: {weakest} {scores[weakest] * 10:g}/10" + (f" ({why})" if why else "")
    )
    return RuleResult(
        round(score, 4),
        passed,
        reason,
        [] if passed else [f"judge-{weakest}"],
        {"scores": scores, "model": model},
    )


def judge(
    store: Store,
    cases: list[Case],
    options: JudgeOptions,
    thresholds: Thresholds,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, RuleResult], JudgeSummary]:
    """Judge the cases (cached ones from the journal); one rule entry per expression id."""
    return asyncio.run(_judge(store, cases, options, thresholds, progress))


async def _judge(
    store: Store,
    cases: list[Case],
    options: JudgeOptions,
    thresholds: Thresholds,
    progress: Callable[[int], None] | None,
) -> tuple[dict[str, RuleResult], JudgeSummary]:
    provider = provider_for(options)
    env = templates()
    rubric = rubric_hash(env)
    for case in cases:
        case.key = _key(case, rubric, provider)
    summary = JudgeSummary(
        model=provider.model,
        endpoint=provider.endpoint,
        judged=0,
        cached=0,
        requested=0,
        failed=0,
        unreadable=0,
        prompt_tokens=0,
        completion_tokens=0,
    )
    journal = Journal(store.data_dir / JOURNAL_FILE)
    try:
        run = JudgeRun(provider, options, journal, summary, env)
        payloads = journal.answers(case.key for case in cases)
        summary.cached = sum(1 for case in cases if case.key in payloads)
        await _ask_missing(run, [c for c in cases if c.key not in payloads], payloads, progress)
    finally:
        journal.close()
        await provider.aclose()
    results = {
        case.expression.id: verdict(payloads.get(case.key), thresholds, provider.model)
        for case in cases
    }
    summary.judged = sum(1 for r in results.values() if r.passed is not None)
    summary.unreadable = sum(
        1
        for case in cases
        if "scores" in payloads.get(case.key, {}) and not payloads[case.key]["scores"]
    )
    return results, summary


async def _ask_missing(
    run: JudgeRun,
    cases: list[Case],
    payloads: dict[str, dict[str, Any]],
    progress: Callable[[int], None] | None,
) -> None:
    gate = asyncio.Semaphore(run.options.concurrency)

    async def one(case: Case) -> None:
        async with gate:
            payloads[case.key] = await run.answer(case)
        if progress:
            progress(1)

    await asyncio.gather(*(one(case) for case in cases))


def provider_for(options: JudgeOptions) -> Provider:
    """The judge's provider. Raises ``ConfigError`` at once when the API key is missing;
    connects on first use."""
    return make_provider(options.provider_config())


def templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def rubric_hash(env: Environment | None = None) -> str:
    """Hash of the rubric's templates: a changed rubric asks the judge again."""
    env = env or templates()
    loader = cast(BaseLoader, env.loader)  # templates() sets one
    return content_hash({name: loader.get_source(env, name)[0] for name in (SYSTEM, USER)})


def _key(case: Case, rubric: str, provider: Provider) -> str:
    expr = case.expression
    return "j" + content_hash(
        [
            rubric,
            provider.name,
            provider.model,
            provider.params(),
            expr.text,
            expr.form,
            expr.style,
            expr.register,
            expr.tone,
            expr.lang,
            [scene.content_hash() for scene in case.scenes],
        ]
    )


def _scene_view(scene: Scene) -> dict[str, Any]:
    return {
        "id": scene.id,
        "title": scene.title,
        "text": scene.text,
        "archetypes": scene.archetypes,
        "components": {kind: scene.component_names(kind) for kind in COMPONENT_KINDS},
    }

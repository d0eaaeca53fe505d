"""The checks that need no model: rule 1 (lived, not explained) and the structural half of
rule 3 (no redundancy) on the hand-made fixtures, MinHash, the judge's answer reader, options.

``quality_cases`` (the fixtures of ``tests/data/quality``) is shared with the other quality
test modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from conftest import SEEDS
from scenegraph.generation import GenerateOptions, generate
from scenegraph.load import load_corpus
from scenegraph.models import Expression
from scenegraph.quality import CheckOptions, RuleResult, Thresholds
from scenegraph.quality.duplicates import MinHasher, lsh_candidates, shingles, surface_links
from scenegraph.quality.judge import read_answer, verdict
from scenegraph.quality.rules import check_lived, check_structure

FIXTURES = Path(__file__).resolve().parent / "data" / "quality"
THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Case:
    rule: str
    good: bool
    expect: str | None  # the failure code a bad case must report (a prefix of it)
    expression: Expression

    @property
    def label(self) -> str:
        return f"{self.rule}-{'good' if self.good else 'bad'}-{self.expression.text[:28]}"


def quality_cases(rule: str | None = None) -> list[Case]:
    """The hand-made fixtures as expressions of seed scenes (provenance: source test)."""
    cases = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for kind in ("good", "bad"):
            for item in data[kind]:
                item = dict(item)
                expect, scene = item.pop("expect", None), item.pop("scene")
                expr = Expression(scene_ids=[scene], provenance={"source": "test"}, **item)
                cases.append(Case(data["rule"], kind == "good", expect, expr))
    return [case for case in cases if rule is None or case.rule == rule]


def _structural(case: Case) -> bool:
    return not (case.expect or "").startswith("duplicate")


LIVED = quality_cases("lived")
STRUCTURE = [case for case in quality_cases("redundancy") if _structural(case)]


@pytest.fixture(scope="module")
def scenes(seeded_store):
    return {scene.id: scene for scene in seeded_store.scenes()}


def test_every_rule_has_ten_good_and_ten_bad_fixtures_in_both_languages():
    for rule in ("lived", "redundancy", "voice"):
        cases = quality_cases(rule)
        for good in (True, False):
            chosen = [c for c in cases if c.good is good]
            assert len(chosen) >= 10, (rule, good)
            assert {c.expression.lang for c in chosen} == {"ru", "en"}, (rule, good)
        assert all(c.expect for c in cases if not c.good)


@pytest.mark.parametrize("case", LIVED, ids=lambda c: c.label)
def test_lived_fixtures_pass_or_fail_for_the_right_reason(case):
    result = check_lived(case.expression, THRESHOLDS)
    if case.good:
        assert result.passed is True, result.reason
    else:
        assert result.passed is False
        assert case.expect in result.codes, result.codes
        assert result.reason


@pytest.mark.parametrize("case", STRUCTURE, ids=lambda c: c.label)
def test_structure_fixtures_pass_or_fail_for_the_right_reason(case, scenes):
    scene_list = [scenes[sid] for sid in case.expression.scene_ids]
    result = check_structure(case.expression, scene_list, THRESHOLDS)
    if case.good:
        assert result.passed is True, result.reason
    else:
        assert result.passed is False
        assert case.expect in result.codes, result.codes


def test_the_sources_own_commentary_line_is_caught(seeded_store):
    by_text = {e.text: e for e in seeded_store.expressions(["Δ31"])}
    explained = check_lived(by_text["Сцена инверсии: фронтальный переход с фазовым напряжением"],
                            THRESHOLDS)
    lived = check_lived(by_text["Я боюсь, но я иду"], THRESHOLDS)
    assert explained.passed is False and explained.codes == ["commentary"]
    assert lived.passed is True and lived.score == 1.0


def test_notation_is_not_asked_to_be_lived_but_may_not_restate_the_scene(scenes):
    colour = Expression(scene_ids=["Δ90"], form="colour", style="поэт", register="poetry",
                        text="#2B2B2B → #F5F5F5, тревога (поэт · poetry)")
    assert check_lived(colour, THRESHOLDS).passed is None
    structure = check_structure(colour, [scenes["Δ90"]], THRESHOLDS)
    assert structure.passed is False and "voice-labels" in structure.codes
    symbols = Expression(scene_ids=["Δ17"], form="symbolic", text="🜂⟁ шаг в жар тишины")
    assert check_structure(symbols, [scenes["Δ17"]], THRESHOLDS).passed is True  # the source's


def test_the_offline_template_provider_restates_the_structure(ladybug_store):
    """The template provider fills a pattern from the components: every output must fail."""
    load_corpus(ladybug_store, [SEEDS / "extra.json"])
    generate(ladybug_store, GenerateOptions(provider="template", styles=["поэт"],
                                            registers=["poetry"], forms=["all"], limit=2,
                                            neighbours=0))
    scenes = {scene.id: scene for scene in ladybug_store.scenes()}
    made = [e for e in ladybug_store.expressions() if e.provenance.get("provider") == "template"]
    assert len(made) >= 6
    for expr in made:
        result = check_structure(expr, [scenes[s] for s in expr.scene_ids], THRESHOLDS)
        assert result.passed is False, expr.text


def test_combining_parts_fails_on_any_part_and_keeps_the_lowest_score():
    good, bad = RuleResult(0.9, True), RuleResult(0.2, False, "why", ["code"])
    combined = RuleResult.combine([good, bad, RuleResult.skipped("n/a")])
    assert (combined.passed, combined.score, combined.codes) == (False, 0.2, ["code"])
    assert RuleResult.combine([RuleResult.skipped("n/a")]).passed is None


# -- MinHash --------------------------------------------------------------------------------

def test_minhash_estimates_jaccard_and_lsh_finds_near_pairs_only():
    texts = ["Волна подходит, трогает его ботинок и уходит, ничего не спросив.",
             "Волна подходит, трогает его ботинок и уходит, ни о чём не спросив.",
             "Табло мигало, как чужое сердце."]
    grams = [shingles(t) for t in texts]
    hasher = MinHasher(seed=1)
    signatures = np.vstack([hasher.signature(g) for g in grams])
    exact = len(grams[0] & grams[1]) / len(grams[0] | grams[1])
    estimate = float((signatures[0] == signatures[1]).mean())
    assert abs(estimate - exact) < 0.15
    assert (0, 1) in lsh_candidates(signatures)
    assert not {(0, 2), (1, 2)} & lsh_candidates(signatures)
    links = surface_links(texts, THRESHOLDS.surface_jaccard)
    assert [(link.a, link.b) for link in links] == [(0, 1)]
    assert links[0].similarity == pytest.approx(exact)


def test_repeated_sign_lines_are_surface_duplicates():
    links = surface_links(["🦶🔥🤫", "🌊🌊🌊 ✨😄", "🦶🔥🤫"], THRESHOLDS.surface_jaccard)
    assert [(link.a, link.b, link.similarity) for link in links] == [(0, 2, 1.0)]


# -- the judge's answer ---------------------------------------------------------------------

def test_the_judges_answer_is_read_tolerantly():
    answer = ('```json\n{"outputs": [{"key": "lived", "text": "8/10 — no commentary"}, '
              '{"key": "linkage", "text": "7 - clearly this scene"}, '
              '{"key": "redundancy", "text": "score: 2, it lists the components"}, '
              '{"key": "voice", "text": "the tone is right"}]}\n```')
    payload = read_answer(answer)
    assert payload["scores"] == {"lived": 0.8, "linkage": 0.7, "redundancy": 0.2}
    assert payload["reasons"]["lived"] == "no commentary"
    result = verdict(payload, THRESHOLDS, "m")
    assert result.score == pytest.approx(0.5667, abs=1e-3) and result.passed is True
    low = verdict({"scores": {"lived": 0.1, "voice": 0.3}, "reasons": {"lived": "explains"}},
                  THRESHOLDS, "m")
    assert low.passed is False and low.codes == ["judge-lived"] and "explains" in low.reason
    assert verdict(read_answer("The river sleeps."), THRESHOLDS, "m").passed is None


# -- options --------------------------------------------------------------------------------

def test_compression_budget_is_a_count_or_a_share():
    assert CheckOptions(compress="50%").budget(333) == 167
    assert CheckOptions(compress=10).budget(4) == 4
    assert CheckOptions(compress="12").budget(100) == 12
    assert CheckOptions().budget(100) is None
    for bad in ("abc", "0%", "150%", 0):
        with pytest.raises(ValidationError):
            CheckOptions(compress=bad)

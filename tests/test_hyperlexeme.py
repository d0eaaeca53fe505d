"""Hyperlexemes: compose is deterministic; parse recovers every fused form in the seeds."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT
from scenegraph.hyperlexeme import Lexicon, compose, fuse, parse, parse_in_store
from scenegraph.models import Component, Scene

FACTS = yaml.safe_load((ROOT / "tests" / "data" / "seed_facts.yaml").read_text(encoding="utf-8"))
FUSED = FACTS["fused_hyperlexemes"]


def test_compose_is_stable_lowercase_and_ignores_order_of_input():
    parts = [Component(kind="tone", name="Внутренний жар"), Component(kind="agent", name="тело"),
             Component(kind="field", name="тишина"), Component(kind="act", name="шаг")]
    first = compose(Scene(id="a", components=parts))
    second = compose(Scene(id="b", components=list(reversed(parts))))
    assert first == second == "тишинашагвнутреннийжартело"


def test_fuse_drops_spaces_punctuation_and_case():
    assert fuse("Внутренний  жар, — тишина!") == "внутреннийжартишина"


@pytest.mark.parametrize("form", sorted(FUSED))
def test_parse_recovers_the_components_of_every_seed_hyperlexeme(seeded_store, form):
    expected = FUSED[form]
    result = parse_in_store(seeded_store, form)
    best = result.candidates[0]
    assert best.names == expected["components"]
    assert not [s for s in best.segments if s.name is None]
    assert expected["scene"] in [m.id for m in best.scenes]


def test_parse_handles_inflection_and_unknown_letters():
    lexicon = Lexicon([Component(kind="field", name="тишина"), Component(kind="tone", name="жар")],
                      {"A": ["тишина", "жар"]})
    best = parse("тишиныжаромzz", lexicon).candidates[0]
    assert [(s.name, s.match) for s in best.segments] == [
        ("тишина", "inflected"), ("жар", "inflected"), (None, "unknown")]
    assert best.scenes[0].id == "A"


def test_parse_reports_scenes_a_stored_hyperlexeme_names(seeded_store):
    assert parse_in_store(seeded_store, "жартишинавход").named_scenes == ["Δ42"]

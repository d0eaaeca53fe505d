"""One style vocabulary: loading maps aliases to canonical names, keeps the spelling as given
in provenance, computes ids from the canonical name, and reports labels it does not know."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml
from click.testing import CliRunner

from conftest import SEEDS
from scenegraph.cli import cli
from scenegraph.corpus import read_records
from scenegraph.corpus.vocabulary import DIMENSIONS, VOCABULARY_FILE, vocabulary
from scenegraph.generation import load_config
from scenegraph.load import corpus_files, load_corpus
from scenegraph.models import expression_key

SCENE = {"components": {"agent": "рыбак", "field": "берег"}}


def corpus(path: Path, voices: list[dict]) -> Path:
    """One scene with an expression per voice (each its own text)."""
    expressions = [{"text": f"волна {i}", **voice} for i, voice in enumerate(voices)]
    path.write_text(json.dumps([{"id": "S", **SCENE, "expressions": expressions}],
                               ensure_ascii=False), encoding="utf-8")
    return path


def test_aliases_load_as_the_canonical_name_with_the_spelling_kept(ladybug_store, tmp_path):
    given = ["poet", "поэтический", "Poet", "поэт", "body"]
    report = load_corpus(ladybug_store, [corpus(tmp_path / "c.json", [
        {"style": style, "register": "поэзия", "tone": "tender"} for style in given])])
    assert report.unknown_labels == {}
    by_text = {e.text: e for e in ladybug_store.expressions(["S"])}
    styles = [by_text[f"волна {i}"].style for i in range(len(given))]
    assert styles == ["поэт", "поэт", "поэт", "поэт", "тело"]
    for i, style in enumerate(given):
        expr = by_text[f"волна {i}"]
        assert expr.register == "poetry" and expr.tone == "нежно"
        assert expr.provenance.get("style_as_given") == (None if style == "поэт" else style)
        assert expr.provenance["register_as_given"] == "поэзия"
        assert expr.provenance["tone_as_given"] == "tender"
        assert expr.provenance["source"] == "corpus"  # where it came from is still there
        # the id is computed from the canonical names
        assert expr.id == expression_key(["S"], expr.text, "text", expr.style, "poetry",
                                         "нежно", None, expr.lang)


def test_twins_in_other_spellings_become_one_expression(ladybug_store, tmp_path):
    path = tmp_path / "twins.json"
    path.write_text(json.dumps([{"id": "S", **SCENE, "expressions": [
        {"text": "волна", "style": "poet"}, {"text": "волна", "style": "поэт"}]}],
        ensure_ascii=False), encoding="utf-8")
    report = load_corpus(ladybug_store, [path])
    assert report.expressions == 1
    assert [e.style for e in ladybug_store.expressions(["S"])] == ["поэт"]


def test_unknown_labels_load_as_given_and_are_reported(ladybug_store, tmp_path):
    report = load_corpus(ladybug_store, [corpus(tmp_path / "u.json", [
        {"style": "мореход"}, {"style": "мореход", "tone": "грустно"}, {"style": "poet"}])])
    assert report.unknown_labels == {"style:мореход": 2, "tone:грустно": 1}
    styles = Counter(e.style for e in ladybug_store.expressions(["S"]))
    assert styles == {"мореход": 2, "поэт": 1}
    unknown = next(e for e in ladybug_store.expressions(["S"]) if e.tone == "грустно")
    assert "style_as_given" not in unknown.provenance


def test_the_load_command_prints_unknown_labels(tmp_path):
    path = corpus(tmp_path / "u.json", [{"style": "мореход"}, {"style": "поэт"}])
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), "load", str(path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "unknown label" in result.output and "style:мореход" in result.output
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "other"), "load", str(path),
                                      "--json"], catch_exceptions=False)
    assert json.loads(result.output)["unknown_labels"] == {"style:мореход": 1}


def raw_labels(field: str) -> set[str]:
    """The labels the seed files give, as written."""
    out = set()
    for path in corpus_files([SEEDS]):
        for raw in read_records(path):
            records = raw.data.get("expressions") or [raw.data]
            stack = list(raw.data.get("parts") or [])
            while stack:
                part = stack.pop()
                if isinstance(part, dict):
                    records += part.get("expressions", [])
                    stack += part.get("parts", [])
            out |= {r[field] for r in records if isinstance(r, dict) and r.get(field)}
    return out


def test_the_seeds_use_only_known_labels_and_fewer_styles(ladybug_store):
    report = load_corpus(ladybug_store, [SEEDS])
    assert report.unknown_labels == {}
    loaded = {e.style for e in ladybug_store.expressions()}
    written = raw_labels("style")
    assert {"poet", "поэт", "поэтический", "body", "тело"} <= written
    assert loaded == {vocabulary().resolve("style", label) for label in written}
    assert len(loaded) < len(written)
    assert loaded <= vocabulary().names("style")


def test_the_vocabulary_is_the_generation_defaults_and_unambiguous():
    config = load_config()
    words = vocabulary()
    data = yaml.safe_load(VOCABULARY_FILE.read_text(encoding="utf-8"))
    for field, section in DIMENSIONS.items():
        assert set(config.voices(section)) <= words.names(field)
        spellings = Counter(
            alias.casefold()
            for term in data[section] + data.get("labels", {}).get(section, [])
            for alias in [term["name"], *term.get("aliases", [])]
        )
        assert [s for s, n in spellings.items() if n > 1] == [], field  # one meaning each
    assert words.resolve("style", "POETIC") == "поэт"
    assert words.resolve("style", "мореход") is None


def test_generation_takes_an_alias_for_the_name():
    config = load_config()
    assert [v.name for v in config.pick("styles", ["poet", "тело", "поэтический"])] == \
        ["поэт", "тело"]

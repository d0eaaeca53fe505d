"""Malformed input: each case gives one-line errors naming file, line and field, and a load
that fails leaves the store exactly as it was."""

from __future__ import annotations

import json

import pytest

from hang_watchdog import time_limit
from scenegraph.corpus import MAX_NESTING
from scenegraph.errors import CorpusError
from scenegraph.load import load_corpus

GOOD = {"scene": "Δ1", "components": {"agent": "тело", "field": "тишина", "meta": ["порог"]},
        "text_human": "Он замер.", "style": "поэт"}


def line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


CASES = {
    "bad_json_line": ("bad.jsonl", f"{line(GOOD)}\n{{\"scene\": \"Δ2\",\n",
                      "bad.jsonl:2: record: invalid JSON"),
    "wrong_type": ("t.jsonl", line({**GOOD, "components": {"agent": 5}}),
                   "t.jsonl:1: components.agent"),
    "missing_id": ("m.jsonl", line({"title": "без имени", "components": {"agent": "тело"}}),
                   "m.jsonl:1: record: no 'scene', 'hyperlexeme' or 'id' field"),
    "null_scene": ("n.jsonl", line({**GOOD, "scene": None}), "n.jsonl:1: scene:"),
    "empty_id": ("e.yaml", "- id: '   '\n  components: {agent: тело}\n",
                 "e.yaml:1: id: must not be empty"),
    "duplicate_id": ("d.jsonl", line(GOOD) + "\n" + line(
        {**GOOD, "components": {"agent": "рука", "meta": ["порог"]}}),
                     "d.jsonl:2: id: scene 'Δ1' is already defined at "),
    "unknown_kind": ("k.yaml", "- id: Δ5\n  components:\n    agent: тело\n    mood: тоска\n",
                     "k.yaml:3: components: unknown component kind 'mood'"),
    "cyclic_parts": ("c.yaml", "- id: A\n  parts: [B]\n- id: B\n  parts: [A]\n",
                     "c.yaml:4: parts: cyclic parts"),
    "self_part": ("s.yaml", "- id: A\n  parts: [A]\n", "s.yaml:2: parts: scene 'A' cannot be a part of itself"),
    "two_parents": ("p.yaml", "- id: A\n  parts: [C]\n- id: B\n  parts: [C]\n",
                    "p.yaml:4: parts: scene 'C' is already a part of 'A'"),
    "empty_file": ("empty.jsonl", "", "empty.jsonl:1: file: empty file"),
    "blank_yaml": ("blank.yaml", "\n\n# nothing\n", "blank.yaml:1: file: empty file"),
    "invalid_yaml": ("y.yaml", "- id: A\n  components: {agent: [тело\n", "y.yaml:3: file: invalid YAML"),
    "scalar_json": ("scalar.json", "42", "scalar.json:1: record: a record must be an object"),
    "bad_second_element": ("arr.json", "[\n  " + line(GOOD) + ",\n  " + line(
        {"hyperlexeme": "жартишина", "expressions": [{"text": "x", "form": "dance"}]}) + "\n]",
                           "arr.json:3: expressions[0].form: Input should be"),
    "nested_part_type": ("nest.yaml", "- id: A\n  parts:\n    - id: A.1\n      archetypes: 7\n",
                         "nest.yaml:4: parts[0].archetypes"),
    "huge_string": ("big.jsonl", line({**GOOD, "text_human": "ж" * 10_000_000}),
                    "big.jsonl:1: text_human: String should have at most 100000 characters"),
    "unknown_extension": ("corpus.txt", line(GOOD), "corpus.txt:1: file: unknown extension '.txt'"),
    # Values that once ended in a traceback: Python's limit on integer digits, a date that does
    # not exist, and values the store's JSON cannot hold.
    "long_integer_jsonl": ("long.jsonl", line(GOOD) + '\n{"id": "A", "n": ' + "1" * 5000 + "}",
                           "long.jsonl:2: record: a number longer than 4,300 digits"),
    "long_integer_json": ("long.json", "[\n" + line(GOOD) + ',\n{"id": "A", "n": ' + "1" * 5000
                          + "}\n]", "long.json:3: file: a number longer than 4,300 digits"),
    "long_integer_yaml": ("long.yaml", "- id: A\n  n: " + "1" * 5000 + "\n",
                          "long.yaml:2: [0].n: a number longer than 4,300 digits"),
    "impossible_date_yaml": ("date.yaml", "- id: A\n  parts:\n    - id: B\n      when: 2020-02-30\n",
                             "date.yaml:4: [0].parts[0].when: '2020-02-30' is not a timestamp"),
    "integer_past_64_bits": ("wide.jsonl", line({**GOOD, "weight": 10**30}),
                             "wide.jsonl:1: weight: cannot be stored as JSON"),
    "quality_past_64_bits": ("q.yaml", "- hyperlexeme: жар\n  expressions:\n    - text: x\n"
                             "      quality: {score: 1" + "0" * 30 + "}\n",
                             "q.yaml:4: expressions[0].quality: cannot be stored as JSON"),
    "yaml_set": ("set.yaml", "- id: A\n  tags: !!set {a, b}\n",
                 "set.yaml:2: tags: cannot be stored as JSON"),
}


def nested(levels: int) -> str:
    """A scene record on one line whose parts nest ``levels`` deep (written as text: the
    encoder would overflow too). JSON on one line is flow-style YAML as well."""
    heads = "".join(f'{{"id": "L{level}", "parts": [' for level in range(1, levels + 1))
    return heads + '{"id": "leaf"}' + "]}" * levels


# Files that once made `load` spin forever or end in a traceback.
HOSTILE = {
    "cycle_inside_a_record": ("cyc.json", line({"id": "A", "parts": [{"id": "B", "parts": ["A"]}, "C"]}),
                              "cyc.json:1: parts: cyclic parts"),
    "self_part_deep_then_sibling": ("self.yaml", "- id: R\n  parts:\n    - id: X\n      parts:\n"
                                    "        - id: Y\n          parts: [Y, Z]\n    - W\n",
                                    "self.yaml:6: parts[0].parts[0].parts: scene 'Y' cannot be a part of itself"),
    "cycle_across_records": ("pqs.jsonl", "\n".join(map(line, [
        {"id": "P", "parts": ["Q"]}, {"id": "Q", "parts": ["S"]}, {"id": "S", "parts": ["P", "T"]}])),
                             "pqs.jsonl:3: parts: cyclic parts"),
    "diamond_with_a_cycle": ("diamond.yaml", "- {id: D1, parts: [D2, D3]}\n- {id: D2, parts: [D4]}\n"
                             "- {id: D3, parts: [D4]}\n- {id: D4, parts: [D1, D5]}\n",
                             "diamond.yaml:4: parts: cyclic parts"),
    "deep_json": ("deep.json", nested(5000), "deep.json:1: file: nested deeper than 200 levels"),
    "deep_jsonl": ("deep.jsonl", line(GOOD) + "\n" + nested(5000),
                   "deep.jsonl:2: record: nested deeper than 200 levels"),
    "deep_yaml": ("deep.yaml", nested(5000), "deep.yaml:1: file: nested deeper than 200"),
    "deeper_than_the_limit_json": ("mid.json", nested(150),
                                   "mid.json:1: parts: nested deeper than 200 levels"),
    "deeper_than_the_limit_yaml": ("mid.yaml", nested(150),
                                   "mid.yaml:1: parts: nested deeper than 200 levels"),
    "yaml_aliases_that_multiply": ("laughs.yaml", "- id: A\n  props:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                   + "".join(f"    {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
                                             for i in range(8)),
                                   "laughs.yaml:1: props: more than 1,000,000 values in one record"),
}


@pytest.fixture
def store(ladybug_store, tmp_path):
    """A store that already holds one good record, so 'unchanged' means something."""
    good = tmp_path / "good.jsonl"
    good.write_text(line(GOOD) + "\n", encoding="utf-8")
    load_corpus(ladybug_store, [good])
    return ladybug_store


def expect_refused(store, paths, fragment: str) -> list[str]:
    before = store.counts()
    with pytest.raises(CorpusError) as caught:
        load_corpus(store, paths)
    problems = caught.value.problems
    assert any(fragment in p for p in problems), problems
    assert all("\n" not in p and len(p) < 400 for p in problems)
    assert store.counts() == before
    return problems


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_input_is_one_line_with_place_and_field(store, tmp_path, case):
    name, content, fragment = CASES[case]
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")
    problems = expect_refused(store, [bad], fragment)
    assert all(p.startswith(str(tmp_path)) for p in problems)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_answers_at_once(store, tmp_path, case):
    name, content, fragment = HOSTILE[case]
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")
    with time_limit(5, f"loading {name}"):
        problems = expect_refused(store, [bad], fragment)
    assert all(p.startswith(str(tmp_path)) for p in problems)


def test_cycle_across_files(store, tmp_path):
    first, second = tmp_path / "one.jsonl", tmp_path / "two.yaml"
    first.write_text(line({"id": "F1", "parts": ["F2"]}), encoding="utf-8")
    second.write_text("- id: F2\n  parts: [F3]\n- id: F3\n  parts: [F1, F4]\n", encoding="utf-8")
    with time_limit(5, "loading a cycle across files"):
        expect_refused(store, [first, second], "two.yaml:4: parts: cyclic parts")


def test_cycle_with_what_is_stored(store, tmp_path):
    """Links already stored count: a new file cannot close a cycle with them."""
    tree = tmp_path / "tree.jsonl"
    tree.write_text(line({"id": "T1", "parts": [{"id": "T2", "parts": ["T3"]}]}), encoding="utf-8")
    load_corpus(store, [tree])
    back = tmp_path / "back.jsonl"
    back.write_text(line({"id": "T3", "parts": ["T1", "T4"]}), encoding="utf-8")
    with time_limit(5, "loading a cycle through stored links"):
        expect_refused(store, [back], "back.jsonl:1: parts: cyclic parts")


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".yaml"])
def test_nesting_up_to_the_limit_loads(store, tmp_path, suffix):
    path = tmp_path / f"limit{suffix}"
    path.write_text(nested(MAX_NESTING // 2 - 1), encoding="utf-8")
    load_corpus(store, [path])
    assert store.scene("leaf").depth == MAX_NESTING // 2 - 1


def test_binary_file(store, tmp_path):
    bad = tmp_path / "blob.jsonl"
    bad.write_bytes(line(GOOD).encode() + b"\n\x89PNG\x00\x01\x02")
    expect_refused(store, [bad], "blob.jsonl:2: file: binary data (NUL byte")


def test_not_utf8(store, tmp_path):
    bad = tmp_path / "latin.jsonl"
    bad.write_bytes(line(GOOD).encode() + b'\n{"scene": "D9", "title": "caf\xe9"}')
    expect_refused(store, [bad], "latin.jsonl:2: file: not UTF-8 text")


def test_one_bad_file_stops_the_whole_load(store, tmp_path):
    fine = tmp_path / "fine.jsonl"
    fine.write_text(line({**GOOD, "scene": "Δ2"}), encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line({**GOOD, "scene": "Δ3", "components": {"mood": "x"}}), encoding="utf-8")
    expect_refused(store, [fine, bad], "bad.jsonl:1: components: unknown component kind")
    assert store.scene("Δ2") is None


def test_skip_bad_loads_good_records_and_writes_reasons(store, tmp_path):
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([line({**GOOD, "scene": "Δ2"}), "{oops",
                                line({**GOOD, "scene": "Δ3", "components": {"mood": "x"}})]),
                     encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    report = load_corpus(store, [mixed], skip_bad=True, rejects_file=rejects)
    assert report.rejected == 2
    assert store.scene("Δ2") is not None and store.scene("Δ3") is None
    rows = [json.loads(x) for x in rejects.read_text(encoding="utf-8").splitlines()]
    assert [r["where"] for r in rows] == [f"{mixed}:2", f"{mixed}:3"]
    assert "invalid JSON" in rows[0]["problems"][0]
    assert rows[1]["record"]["scene"] == "Δ3"


def test_control_character_in_yaml(store, tmp_path):
    bad = tmp_path / "ctrl.yaml"
    bad.write_text("- id: A\n- id: B\n  title: bad\x07char\n", encoding="utf-8")
    expect_refused(store, [bad], "ctrl.yaml:3: file: invalid YAML: special characters are not "
                                 "allowed (character #x0007)")

"""Property-based: whatever records come in, the loader either takes them or answers with
one-line `file:line: field: message` problems — never another exception, and never a hang.

Example counts come from the Hypothesis profile (conftest.py: ``ci`` under CI=true, ``dev``,
``explore`` for ``make explore``); each example runs under the watchdog (hang_watchdog.py).
"""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hang_watchdog import watchdog
from scenegraph.corpus import CorpusBuilder, read_records
from scenegraph.corpus.read import _json_value
from scenegraph.errors import CorpusError
from scenegraph.load import load_corpus

PROBLEM = re.compile(r"^.+\.(jsonl|json|yaml):\d+: [\w.\[\]]+: .+$")

names = st.text(alphabet="абвгдежзийклмнопрстуфхцчшщыьэюяabc Δ.0123", min_size=0, max_size=12)
junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(), names,
                 st.lists(names, max_size=3), st.dictionaries(names, names, max_size=2))
components = st.dictionaries(
    st.sampled_from(["agent", "field", "act", "tone", "meta", "mood"]),
    st.one_of(names, st.lists(names, max_size=3), junk), max_size=5)
expression = st.fixed_dictionaries(
    {"text": st.one_of(names, junk)},
    optional={"form": st.sampled_from(["text", "symbolic", "formula", "colour", "gesture",
                                       "sound", "dance"]),
              "style": names, "register": st.one_of(names, junk), "extra": junk})
pair = st.fixed_dictionaries(
    {"scene": st.one_of(names, junk)},
    optional={"components": st.one_of(components, junk), "text_human": st.one_of(names, junk),
              "text_alt": names, "style": names, "target": names, "weight": junk})
hyperlexeme = st.fixed_dictionaries(
    {"hyperlexeme": st.one_of(names, junk)},
    optional={"scene": names, "components": components,
              "expressions": st.one_of(st.lists(expression, max_size=3), junk)})
scene = st.recursive(
    st.fixed_dictionaries({"id": st.one_of(names, junk)},
                          optional={"components": components, "archetypes": st.one_of(
                              st.lists(names, max_size=3), junk), "leads_to": st.lists(names, max_size=2),
                              "text": names}),
    lambda children: st.fixed_dictionaries(
        {"id": names}, optional={"parts": st.lists(st.one_of(children, names), max_size=3),
                                 "components": components}),
    max_leaves=6)
# Scene records over a handful of ids, so parts close cycles, name themselves and share
# children (diamonds) often — the shapes that once made the loader spin.
few_ids = st.sampled_from(["A", "B", "C", "D"])
tangle = st.recursive(
    st.fixed_dictionaries({"id": few_ids}, optional={"parts": st.lists(few_ids, max_size=3)}),
    lambda children: st.fixed_dictionaries(
        {"id": few_ids, "parts": st.lists(st.one_of(children, few_ids), max_size=3)}),
    max_leaves=5)
record = st.one_of(pair, hyperlexeme, scene, tangle, junk)
# The files, tried first in every profile.
CYCLES = [
    [{"id": "A", "parts": [{"id": "B", "parts": ["A"]}, "C"]}],
    [{"id": "R", "parts": [{"id": "X", "parts": [{"id": "Y", "parts": ["Y", "Z"]}]}, "W"]}],
    [{"id": "P", "parts": ["Q"]}, {"id": "Q", "parts": ["S"]}, {"id": "S", "parts": ["P", "T"]}],
    [{"id": "D1", "parts": ["D2", "D3"]}, {"id": "D2", "parts": ["D4"]},
     {"id": "D3", "parts": ["D4"]}, {"id": "D4", "parts": ["D1", "D5"]}],
]


def check(problems: list[str]) -> None:
    for problem in problems:
        assert "\n" not in problem and PROBLEM.match(problem), problem


@watchdog()
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(record, min_size=1, max_size=8))
@example(records=CYCLES[0])
@example(records=CYCLES[1])
@example(records=CYCLES[2])
@example(records=CYCLES[3])
def test_builder_takes_records_or_names_each_problem(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("prop") / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    builder = CorpusBuilder()
    taken = 0
    for raw in read_records(path):
        problems = builder.add(raw)
        check(problems)
        taken += not problems
    batch = builder.corpus.batch()
    if taken:
        assert batch.node_rows("Scene")
    for scene_id, scene in builder.corpus.scenes.items():
        assert scene_id == scene.id and scene_id.strip() == scene_id


@watchdog()
@settings(max_examples=max(1, settings().max_examples // 10),  # a store load per example
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.one_of(pair, scene, tangle), min_size=1, max_size=5))
@example(records=CYCLES[2])
def test_store_is_unchanged_by_a_refused_load(ladybug_store, tmp_path_factory, records):
    path = tmp_path_factory.mktemp("prop") / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    before = ladybug_store.counts()
    try:
        report = load_corpus(ladybug_store, [path])
    except CorpusError as exc:
        check(exc.problems)
        assert ladybug_store.counts() == before
    else:
        assert ladybug_store.counts()["Scene"] >= report.scenes > 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=4),
    max_leaves=12)
json_texts = st.one_of(
    st.builds(lambda value, ascii: json.dumps(value, ensure_ascii=ascii), json_values,
              st.booleans()),
    st.text(alphabet='{}[],:"\\ -+.eE0123456789truefalsnNaIiy\n\t', max_size=16))


def outcome(read, text: str) -> str:
    try:
        return repr(read(text))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__


@watchdog()
@given(json_texts)
@example('{"a": NaN, "b": Infinity, "c": -Infinity}')
@example('["\\ud800", "\\udfff x"]')
@example("[1e400, -1e400, 1e-400]")
@example("[" + "9" * 400 + ", " + "9" * 400 + ".5]")
@example("1" * 5000)
@example("[" * 5000 + "]" * 5000)
@example('{"a": 1, "a": 2}')
def test_json_text_reads_as_json_reads_it(text):
    """The reader's fast decoder gives what json gives, value for value (or the same error)."""
    assert outcome(_json_value, text) == outcome(json.loads, text)

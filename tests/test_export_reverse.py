"""Reverse pairs only where the input can carry the answer, and one hyperlexeme per scene.

A reverse pair asks an expression for its scene's components, archetypes and hyperlexeme:
text and formula expressions can answer it, a line of symbols, a colour, a gesture or a sound
cannot (``rows.REVERSE_FORMS``). The hyperlexeme a row names a scene by is composed from its
components, so identical components give the same word whatever the corpus coined.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from scenegraph.export import ExportOptions, export_dataset
from scenegraph.export.rows import (
    REVERSE_FORMS,
    REVERSE_RULE,
    Renderer,
    canonical_hyperlexeme,
    template_hashes,
)
from scenegraph.export.selection import Chunk
from scenegraph.graph.export import ComponentRef, ExpressionRow, SceneView
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.hyperlexeme import compose
from scenegraph.load import load_corpus
from scenegraph.models import FORMS

pq = pytest.importorskip("pyarrow.parquet")

SAMPLES = {  # one expression of each form
    "text": "Она греет ладони о чашку, и холод комнаты отступает.",
    "formula": "T(руки) ↑ ⇒ холод(комната) ↓",
    "symbolic": "🤲☕❄️→🔥",
    "colour": "#1E90FF → #FFA07A, медленное потепление",
    "gesture": "ладони смыкаются вокруг чашки",
    "sound": "ш-ш… тик… ш-ш",
}
COMPONENTS = {"agent": "женщина", "field": "холодная комната", "act": "согревание",
              "tone": "нежность"}


def twin_corpus(path: Path) -> Path:
    """Two scenes with identical components: one coins its own hyperlexeme in another word
    order (as authors do), the other gives none. Each has an expression of every form."""
    expressions = [{"text": text, "form": form, "style": "поэт"} for form, text in SAMPLES.items()]
    records = [
        {"hyperlexeme": "женщинасогреваниенежность", "scene": "A",
         "components": COMPONENTS, "archetypes": ["забота"], "expressions": expressions},
        {"id": "B", "components": COMPONENTS, "archetypes": ["забота"],
         "expressions": [{**e, "text": e["text"] + " (B)"} for e in expressions]},
    ]
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def twin_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twins")
    store = LadybugStore(folder / "store")
    load_corpus(store, [twin_corpus(folder / "twins.json")])
    out = folder / "dataset"
    export_dataset(store, out, ExportOptions(directions=["forward", "reverse"],
                                              formats=["parquet"], split=(1, 0, 0)))
    forms = {e.id: e.form for e in store.expressions()}
    store.close()
    rows = [row for file in sorted(out.rglob("*.parquet"))
            for row in pq.read_table(file).to_pylist()]
    return rows, forms


def test_the_rule_is_stated_and_covers_known_forms():
    assert REVERSE_FORMS == {"text", "formula"} and REVERSE_FORMS <= set(FORMS)
    assert "text and formula" in REVERSE_RULE
    assert all(form in REVERSE_RULE for form in set(FORMS) - REVERSE_FORMS)
    assert "reverse_forms" in template_hashes()  # a changed rule changes the manifest


def test_only_text_and_formula_expressions_make_reverse_pairs(twin_export):
    rows, forms = twin_export
    reverse = Counter(forms[r["expression_id"]] for r in rows if r["direction"] == "reverse")
    forward = Counter(forms[r["expression_id"]] for r in rows if r["direction"] == "forward")
    assert reverse == {"text": 2, "formula": 2}
    assert forward == {form: 2 for form in FORMS}  # every form still makes its forward pair


def test_identical_components_give_one_hyperlexeme_in_targets(twin_export):
    rows, _ = twin_export
    answers = {r["scene_ids"][0]: json.loads(r["messages"][2]["content"])
               for r in rows if r["direction"] == "reverse"}
    assert set(answers) == {"A", "B"}
    words = {sid: answer["hyperlexeme"] for sid, answer in answers.items()}
    assert words["A"] == words["B"] == "холоднаякомнатасогреваниенежностьженщина"
    assert words["A"] != "женщинасогреваниенежность"  # the coined one is not the target
    prompts = [r["messages"][1]["content"] for r in rows if r["direction"] == "forward"]
    assert all(f"Hyperlexeme: {words['A']}" in p for p in prompts)  # forward names it alike


def view(sid: str, components: list[tuple[str, str]], hyperlexemes: list[str]) -> SceneView:
    return SceneView(id=sid, components=[ComponentRef(k, n) for k, n in components],
                     hyperlexemes=hyperlexemes)


def test_canonical_hyperlexeme_is_composed_else_the_scenes_own():
    parts = [("agent", "кот"), ("field", "крыша"), ("act", "прыжок")]
    shuffled = view("X", parts[::-1], ["котпрыжоккрыша"])
    assert canonical_hyperlexeme(shuffled) == compose(shuffled) == "крышапрыжоккот"
    assert canonical_hyperlexeme(view("Y", parts, [])) == "крышапрыжоккот"
    assert canonical_hyperlexeme(view("Z", [], ["Δ7", "жарвход"])) == "жарвход"
    assert canonical_hyperlexeme(view("Z", [], ["Δ7"])) == "Δ7"
    assert canonical_hyperlexeme(view("Z", [], [])) == "Z"


def expression(eid: str, form: str) -> ExpressionRow:
    return ExpressionRow(id=eid, text=f"{form} {eid}", form=form, style="поэт", register=None,
                         tone=None, target=None, lang="ru", provenance={}, props={},
                         quality=None, passed=None, scene_ids=["S"])


def test_the_renderer_counts_reverse_pairs_made_and_skipped_by_form():
    forms = ["text", "text", "formula", "symbolic", "colour", "colour", "gesture", "sound"]
    chunk = Chunk(scenes={"S": view("S", [("agent", "кот")], [])}, scene_ids=["S"],
                  expressions=[expression(f"x{i}", form) for i, form in enumerate(forms)])
    renderer = Renderer(ExportOptions(directions=["reverse"]))
    yielded = list(renderer.pairs(chunk))
    assert renderer.reverse_made == Counter({"text": 2, "formula": 1})
    assert renderer.reverse_skipped == Counter({"colour": 2, "symbolic": 1, "gesture": 1,
                                                "sound": 1})
    # an expression left with no pair is not yielded at all
    assert sorted(expr.form for expr, _ in yielded) == ["formula", "text", "text"]

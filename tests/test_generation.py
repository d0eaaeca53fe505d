"""Generation without a model: the plan, prompts, parser, journal and the offline template provider.

Real parts only: embedded stores on disk with the bundled seeds, the real journal file. The
tests against a chat-completions server are in test_generation_server.py.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from scenegraph.graph.batch import GraphBatch
from scenegraph.cli import cli
from scenegraph.errors import ConfigError, StoreError
from scenegraph.generation import GenerateOptions, generate, load_config, run
from scenegraph.generation.journal import MIGRATIONS, Journal
from scenegraph.llm.journal import JOURNAL_FILE
from scenegraph.llm.parse import parse_outputs
from scenegraph.generation.plan import select_scenes
from scenegraph.load import load_corpus
from scenegraph.models import Component
from scenegraph.graph.ladybug import LadybugStore

from conftest import SEEDS

TEMPLATE = GenerateOptions(provider="template")
STYLES = 7  # in seeds/defaults.yaml


@pytest.fixture
def seeded(seeded_copy):
    return seeded_copy


def generated(store, status="active"):
    """Expressions this pipeline made (the corpus's own have no provenance); status None: all."""
    statuses = [status] if status else ["active", "superseded"]
    return [e for s in statuses for e in store.expressions(status=s) if e.provenance.get("provider")]


def edit_components(store, scene_id, components):
    scene = store.scene(scene_id)
    scene.components = [Component(kind=kind, name=name) for kind, name in components]
    store.upsert(GraphBatch.of([scene]))


# -- the tolerant parser ------------------------------------------------------------------

KEYS = ["поэт/text", "логик/text"]


@pytest.mark.parametrize("content", [
    '{"outputs": [{"key": "поэт/text", "text": "a"}, {"key": "логик/text", "text": "b"}]}',
    '```json\n{"outputs": [{"key": "поэт/text", "text": "a"}, {"key": "логик/text", "text": "b"}]}\n```',
    'Here you go:\n{"outputs": [{"key": "логик/text", "text": "b"}, {"key": "поэт/text", "text": "a"},'
    ' {"key": "extra", "text": "c"}]}\nHope this helps {!',
    '{"поэт/text": "a", "логик/text": "b"}',
    '[{"key": "поэт/text", "text": " a "}, {"key": "логик/text", "text": "b"}]',
])
def test_parser_reads_every_accepted_shape(content):
    parsed = parse_outputs(content, KEYS)
    assert parsed.texts == {"поэт/text": "a", "логик/text": "b"} and not parsed.missing


@pytest.mark.parametrize("content, finish, missing, problem", [
    ('{"outputs": [{"key": "поэт/text", "text": "a"}]}', "stop", ["логик/text"], "no output for"),
    ('{"outputs": [{"key": "поэт/text", "text": "a"}, {"key": "логик', "length",
     ["логик/text"], "no output for"),
    ('{"outputs": [{"key": "поэт/te <<~~#garbled', "stop", KEYS, "not valid JSON"),
    ('{"outputs": [{"key": "по', "length", KEYS, "max_tokens"),
    ("", "stop", KEYS, "empty"),
    ('{"outputs": [{"key": "поэт/text", "text": "  "}]}', "stop", KEYS, "no output for"),
])
def test_parser_says_what_is_missing_and_why(content, finish, missing, problem):
    parsed = parse_outputs(content, KEYS, finish)
    assert parsed.missing == missing
    assert problem in parsed.problem


# -- config and plan ----------------------------------------------------------------------

def test_user_config_adds_and_replaces_voices(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("styles:\n  - {name: моряк, instruction: sailor}\n  - {name: поэт, instruction: mine}\n"
                    "prices:\n  m: {input: 1.0, output: 2.0}\n", encoding="utf-8")
    config = load_config(user)
    styles = config.voices("styles")
    assert len(styles) == STYLES + 1 and styles["поэт"].instruction == "mine"
    assert config.prices["m"].output == 2.0


@pytest.mark.parametrize("options, message", [
    (dict(styles=["нет-такого"]), "unknown style 'нет-такого'"),
    (dict(forms=["all"], config="bad.yaml"), "bad.yaml"),
    (dict(select="MATCH (s:Scene) RETURN count(s)"), "--select must return scene ids"),
    (dict(archetypes=["нет-такого"]), "no scenes selected"),
])
def test_bad_options_raise_one_clear_error(seeded, tmp_path, options, message):
    if "config" in options:
        (tmp_path / "bad.yaml").write_text("styles: [{name: x}]\n", encoding="utf-8")
        options["config"] = tmp_path / "bad.yaml"
    with pytest.raises(ConfigError, match=message):
        generate(seeded, GenerateOptions(provider="template", **options))
    assert not (seeded.data_dir / JOURNAL_FILE).exists()


def test_selection_by_query_archetype_and_limit(seeded):
    english = select_scenes(seeded, GenerateOptions(
        select="MATCH (s:Scene) WHERE s.lang = 'en' RETURN s.id"))
    assert len(english) == 12 and all(sid.startswith("Δ1") for sid in english)
    thresholds = select_scenes(seeded, GenerateOptions(archetypes=["порог"], limit=3))
    assert len(thresholds) == 3
    for sid in thresholds:
        assert "порог" in seeded.scene(sid).archetypes


# -- the template provider end to end -----------------------------------------------------

def test_resume_and_edit_keep_their_promises_on_both_stores(store):
    """The contract on each backend: a re-run skips what is done; an edit regenerates that
    scene's expressions only and supersedes the old ones."""
    load_corpus(store, [SEEDS / "scenes.yaml"])  # the file with the Δ31 tree: quicker on Neo4j
    options = GenerateOptions(provider="template",
                              select="MATCH (s:Scene) WHERE s.id STARTS WITH 'Δ31' RETURN s.id")
    first = generate(store, options)
    assert first.generated == first.planned > STYLES
    edit_components(store, "Δ31.1", [("agent", "ладонь"), ("act", "касание")])
    second = generate(store, options)
    assert second.already_done == first.generated - STYLES
    assert second.generated == second.superseded == second.stale == STYLES
    superseded = store.expressions(status="superseded")
    assert len(superseded) == STYLES and {e.scene_ids[0] for e in superseded} == {"Δ31.1"}
    assert len(generated(store)) == first.generated


def test_template_provider_is_deterministic_and_named(seeded_folder, tmp_path):
    runs = []
    for name in ("a", "b"):
        with LadybugStore(shutil.copytree(seeded_folder, tmp_path / name)) as copy:
            report = generate(copy, GenerateOptions(provider="template", limit=10,
                                                    registers=["poetry", "logic"]))
            runs.append({(e.id, e.text) for e in generated(copy)})
    assert report.generated == report.planned == 10 * STYLES * 2
    assert runs[0] == runs[1] and len(runs[0]) == report.planned
    assert len({text for _, text in runs[0]}) > report.planned / 2  # slots differ, not one text
    assert report.provider == report.model == "template"


def test_expressions_carry_provenance_and_link_to_their_scene(seeded):
    generate(seeded, GenerateOptions(provider="template", select="RETURN 'Δ31.1'",
                                    forms=["text", "symbolic"], targets=["человек"]))
    made = generated(seeded)
    assert len(made) == STYLES * 2
    for expr in made:
        assert expr.scene_ids == ["Δ31.1"] and expr.target == "человек" and expr.lang == "ru"
        prov = expr.provenance
        assert prov["provider"] == "template" and prov["model"] == "template"
        assert {"template_hash", "params", "usage", "latency_s", "time"} <= set(prov)
    assert {e.form for e in made} == {"text", "symbolic"}


def test_rerun_skips_done_work_and_keeps_quality(seeded):
    first = generate(seeded, TEMPLATE)
    target = generated(seeded)[0]
    seeded.run("MATCH (e:Expression {id: $id}) SET e.quality = '{\"score\": 0.5}', e.passed = true",
              {"id": target.id}, write=True)
    second = generate(seeded, TEMPLATE)
    assert first.generated == first.planned == second.already_done and second.generated == 0
    kept = next(e for e in seeded.expressions() if e.id == target.id)
    assert kept.quality == {"score": 0.5} and kept.passed is True


def test_dry_run_counts_and_writes_nothing(seeded):
    before = seeded.counts()
    report = generate(seeded, GenerateOptions(provider="template", dry_run=True, per_request=3))
    scenes = len(select_scenes(seeded, TEMPLATE))
    assert report.planned == report.pending == scenes * STYLES
    assert report.requests == report.estimate.requests == scenes * 3  # 7 slots, 3 per request
    assert report.estimate.prompt_tokens > report.requests * 100
    assert report.estimate.completion_tokens == report.planned * 80
    assert seeded.counts() == before and not (seeded.data_dir / JOURNAL_FILE).exists()


def test_editing_one_scene_regenerates_only_its_expressions(seeded):
    generate(seeded, TEMPLATE)
    before = {e.id: e for e in generated(seeded)}
    edit_components(seeded, "Δ31.1", [("agent", "ладонь"), ("field", "дверь"), ("act", "касание")])

    dry = generate(seeded, GenerateOptions(provider="template", dry_run=True))
    assert dry.stale == dry.pending == STYLES

    report = generate(seeded, TEMPLATE)
    assert report.generated == report.superseded == report.stale == STYLES
    after = {e.id: e for e in generated(seeded, status=None)}
    changed = {i for i in after if i not in before or after[i].status != before[i].status
               or after[i].provenance != before[i].provenance}
    assert {sid for i in changed for sid in after[i].scene_ids} == {"Δ31.1"}
    old = [after[i] for i in before if "Δ31.1" in before[i].scene_ids]
    assert len(old) == STYLES and all(e.status == "superseded" for e in old)
    active = [e for e in generated(seeded) if e.scene_ids == ["Δ31.1"]]
    assert len(active) == STYLES and all("ладонь" in e.text for e in active)
    assert generate(seeded, TEMPLATE).pending == 0


def test_walks_compose_passages_linked_to_every_scene(seeded):
    options = GenerateOptions(provider="template", walk=True, walk_length=3, seed=7,
                              styles=["поэт"])
    plan_a = generate(seeded, options.model_copy(update={"dry_run": True}))
    report = generate(seeded, options)
    assert report.generated == plan_a.planned > 0
    passages = generated(seeded)
    for expr in passages:
        order = expr.props["passage"]
        assert 2 <= len(order) <= 3 and sorted(order) == expr.scene_ids
        assert len(set(order)) == len(order)
    assert any(len(e.scene_ids) == 3 for e in passages)
    other_seed = generate(seeded, options.model_copy(update={"seed": 8, "dry_run": True}))
    assert other_seed.already_done < other_seed.planned  # another seed walks elsewhere


class FailingOnceStore(LadybugStore):
    """A real store whose first expression write fails, as if the process died right there."""

    failed = False

    def upsert(self, batch, progress=None):
        if batch.node_rows("Expression") and not self.failed:
            self.failed = True
            raise StoreError("disk full (test)")
        return super().upsert(batch, progress)


def test_answers_written_ahead_are_stored_without_asking_again(seeded_folder, tmp_path):
    folder = shutil.copytree(seeded_folder, tmp_path / "store")
    options = GenerateOptions(provider="template", limit=4)
    with FailingOnceStore(folder) as failing, pytest.raises(StoreError):
        generate(failing, options)
    rows = sqlite3.connect(folder / JOURNAL_FILE).execute(
        "SELECT status, count(*) FROM items GROUP BY status").fetchall()
    assert rows == [("generated", 4 * STYLES)]
    with LadybugStore(folder) as store:
        report = generate(store, options)
        assert report.recovered == report.generated == 4 * STYLES and report.requests == 0
        assert len(generated(store)) == 4 * STYLES


@pytest.mark.timeout(120)
def test_a_short_queue_slows_workers_down_and_a_failed_writer_stops_them(seeded_folder, tmp_path,
                                                                        monkeypatch):
    """Workers wait for room in a bounded queue; when the writer fails they stop, not hang."""
    monkeypatch.setattr(run, "QUEUED_REQUESTS", 2)
    monkeypatch.setattr(run, "GRAPH_ROWS", 5)
    monkeypatch.setattr(run, "FLUSH_ROWS", 5)
    options = GenerateOptions(provider="template", limit=6, mode="one")
    with LadybugStore(shutil.copytree(seeded_folder, tmp_path / "ok")) as store:
        report = generate(store, options)
        assert report.generated == report.planned == 6 * STYLES and report.failed == 0
        assert len(generated(store)) == 6 * STYLES
    folder = shutil.copytree(seeded_folder, tmp_path / "failing")
    with FailingOnceStore(folder) as failing, pytest.raises(StoreError, match="disk full"):
        generate(failing, options)
    journaled = sqlite3.connect(folder / JOURNAL_FILE).execute("SELECT count(*) FROM items")
    assert 5 <= journaled.fetchone()[0] < 6 * STYLES  # it stopped at the first graph write


def test_journal_has_named_migrations_applied_once(seeded):
    generate(seeded, GenerateOptions(provider="template", limit=1))
    journal = Journal(seeded.data_dir / JOURNAL_FILE)
    journal.entries()
    journal.close()
    db = sqlite3.connect(seeded.data_dir / JOURNAL_FILE)
    names = [name for (name,) in db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS] and names[0] == "001_items"
    columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
    assert {"scene_ids", "style", "register", "tone", "target", "template_hash", "model",
            "params", "content_hash", "context_hash", "status", "reason"} <= columns


def test_overridden_template_changes_the_hash_and_the_text(seeded, tmp_path):
    first = generate(seeded, GenerateOptions(provider="template", limit=2))
    (tmp_path / "offline.j2").write_text("{{ slot.key }} ⟁ {{ scenes[0].id }}", encoding="utf-8")
    second = generate(seeded, GenerateOptions(provider="template", limit=2, templates=tmp_path))
    assert second.template_hash != first.template_hash
    assert second.stale == second.generated == second.superseded == 2 * STYLES
    assert all("⟁" in e.text for e in generated(seeded))


def test_cli_dry_run_json_and_help(seeded):
    seeded.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", str(seeded.data_dir), "generate", "--provider",
                                 "template", "--registers", "poetry", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] and report["planned"] == report["pending"] > 0
    bad = runner.invoke(cli, ["--store", str(seeded.data_dir), "generate", "--provider",
                              "template", "--tones", "громко"])
    assert bad.exit_code == 1 and "unknown tone 'громко'" in bad.output
    assert "Example:" in runner.invoke(cli, ["generate", "--help"]).output

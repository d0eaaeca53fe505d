"""Export: every format loads with `datasets`, OpenAI's rules hold, splits never leak a tree,
re-runs give the same bytes, and the `records` format brings the corpus back."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from conftest import SEEDS
from scenegraph.errors import ConfigError, StoreError
from scenegraph.export import ExportOptions, Manifest, export_dataset
from scenegraph.corpus.vocabulary import vocabulary
from scenegraph.export.rows import REVERSE_FORMS
from scenegraph.load import load_corpus
from scenegraph.graph.schema import schema
from scenegraph.graph.ladybug import LadybugStore

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()

ALL_DIRECTIONS = ["forward", "reverse", "transfer"]


@pytest.fixture(scope="module")
def exported(seeded_store, tmp_path_factory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("export") / "dataset"
    manifest = export_dataset(seeded_store, out, ExportOptions(directions=ALL_DIRECTIONS))
    return out, manifest


def load_output(out: Path, entry):
    """Load one manifest output with `datasets`, the way a trainer would."""
    path = str(out / entry.path)
    if entry.format == "hf":
        return datasets.load_from_disk(path)[entry.split]
    builder = "parquet" if entry.format == "parquet" else "json"
    return datasets.load_dataset(builder, data_files={entry.split: path},
                                 cache_dir=str(out.parent / ".hf-cache"))[entry.split]


def parquet_rows(out: Path, manifest: Manifest) -> dict[str, list[dict]]:
    """Split -> rows of the Parquet export (they carry scene ids and voices)."""
    return {e.split: load_output(out, e).to_list() for e in manifest.outputs
            if e.format == "parquet"}


# -- formats ------------------------------------------------------------------------------


def test_every_format_loads_with_datasets_and_row_counts_match_the_manifest(exported):
    out, manifest = exported
    seen = set()
    for entry in manifest.outputs:
        assert load_output(out, entry).num_rows == entry.rows > 0, entry
        seen.add(entry.format)
    assert seen == {"openai", "sharegpt", "alpaca", "prompt-completion", "hf", "parquet", "records"}
    by_split = {e.split: e.rows for e in manifest.outputs if e.format == "openai"}
    assert by_split == manifest.counts.by_split
    assert sum(by_split.values()) == manifest.counts.pairs


OPENAI_ROLES = {"system", "user", "assistant", "tool", "function"}
OPENAI_MESSAGE_KEYS = {"role", "content", "name", "weight", "function_call", "tool_calls"}
OPENAI_EXAMPLE_KEYS = {"messages", "tools", "functions", "parallel_tool_calls"}
OPENAI_MIN_EXAMPLES = 10
OPENAI_MAX_TOKENS = 65_536  # per example; 4 bytes of UTF-8 per token is a safe overestimate


def openai_problems(data: bytes) -> list[str]:
    """OpenAI's documented rules for chat fine-tuning files, one problem per line found."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"not UTF-8 at byte {exc.start}"]
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    problems = [] if len(lines) >= OPENAI_MIN_EXAMPLES else [f"{len(lines)} examples, fewer than 10"]
    for number, line in enumerate(lines, 1):
        problems += [f"line {number}: {p}" for p in _example_problems(line)]
    return problems


def _example_problems(line: str) -> list[str]:
    try:
        example = json.loads(line)
    except json.JSONDecodeError as exc:
        return [f"not one JSON object: {exc.msg}"]
    if not isinstance(example, dict):
        return ["not a JSON object"]
    if set(example) - OPENAI_EXAMPLE_KEYS:
        return [f"unknown keys {sorted(set(example) - OPENAI_EXAMPLE_KEYS)}"]
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["no messages list"]
    problems = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not {"role", "content"} <= set(message):
            problems.append(f"message {index} lacks role or content")
            continue
        if set(message) - OPENAI_MESSAGE_KEYS:
            problems.append(f"message {index} has unknown keys")
        if message["role"] not in OPENAI_ROLES:
            problems.append(f"message {index} has role {message['role']!r}")
        if message["role"] == "system" and index != 0:
            problems.append("a system message after the first")
        if not isinstance(message["content"], str):
            problems.append(f"message {index} content is not text")
        if "weight" in message and (message["role"] != "assistant" or message["weight"] not in (0, 1)):
            problems.append(f"message {index} has a weight other than 0/1 on an assistant turn")
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not assistants:
        problems.append("no assistant message")
    elif not all(isinstance(m.get("content"), str) and m["content"].strip() for m in assistants):
        problems.append("an empty assistant message")
    if messages[-1].get("role") != "assistant":
        problems.append("does not end with an assistant message")
    if len(line.encode("utf-8")) > 4 * OPENAI_MAX_TOKENS:
        problems.append("longer than the context a fine-tuning example may take")
    return problems


def test_openai_jsonl_follows_openais_fine_tuning_rules(exported):
    out, manifest = exported
    files = [e for e in manifest.outputs if e.format == "openai"]
    assert files
    for entry in files:
        assert openai_problems((out / entry.path).read_bytes()) == [], entry.path


@pytest.mark.parametrize("bad, problem", [
    (b'{"messages": [{"role": "user", "content": "hi"}]}\n' * 10, "no assistant message"),
    (b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}\n' * 10,
     "an empty assistant message"),
    (b'{"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n' * 10,
     "role 'bot'"),
    (b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n',
     "fewer than 10"),
    (b"\xff\xfe\n", "not UTF-8"),
    (b'{"messages": []}\n{"messages": []}\n' * 5, "no messages list"),
])
def test_the_openai_validator_catches_what_it_should(bad, problem):
    assert any(problem in p for p in openai_problems(bad))


def test_sharegpt_and_alpaca_rows_say_the_same_as_openai(exported):
    out, manifest = exported
    rows = {fmt: [json.loads(line) for line in (out / f"{fmt}/train.jsonl").read_text("utf-8").splitlines()]
            for fmt in ("openai", "sharegpt", "alpaca")}
    for chat, share, alpaca in zip(rows["openai"], rows["sharegpt"], rows["alpaca"]):
        system, user, assistant = (m["content"] for m in chat["messages"])
        assert share["system"] == alpaca["system"] == system
        assert [t["value"] for t in share["conversations"]] == [user, assistant]
        assert alpaca["instruction"] == user and alpaca["input"] == ""  # one text, as in chat
        assert alpaca["output"] == assistant


def test_directions_pair_the_right_things(exported, seeded_store):
    out, manifest = exported
    rows = [r for split in parquet_rows(out, manifest).values() for r in split]
    expressions = {e.id: e for e in seeded_store.expressions()}
    by_direction = defaultdict(list)
    for row in rows:
        by_direction[row["direction"]].append(row)
    for row in by_direction["forward"]:
        assert row["messages"][2]["content"] == expressions[row["expression_id"]].text
        if row["style"]:
            assert f'"{row["style"]}"' in row["messages"][1]["content"]
    for row in by_direction["reverse"]:
        answer = json.loads(row["messages"][2]["content"])
        scene = seeded_store.scene(row["scene_ids"][0])
        for kind, names in answer["components"].items():
            assert names == scene.component_names(kind)
        assert answer["archetypes"] == scene.archetypes
    assert by_direction["transfer"]
    for row in by_direction["transfer"]:
        source, target = expressions[row["source_expression_id"]], expressions[row["expression_id"]]
        assert source.scene_ids == target.scene_ids and source.style != target.style
        assert row["messages"][1]["content"].endswith(source.text)
        assert row["messages"][2]["content"] == target.text


def test_manifest_hashes_every_file_and_the_card_has_hub_front_matter(exported):
    out, manifest = exported
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert sorted(f.path for f in manifest.files) == [p for p in on_disk if p != "manifest.json"]
    for entry in manifest.files:
        data = (out / entry.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256 and len(data) == entry.bytes
    assert Manifest.model_validate_json((out / "manifest.json").read_text("utf-8")) == manifest
    front = yaml.safe_load((out / "README.md").read_text("utf-8").split("---\n")[1])
    assert {"ru", "en"} <= set(front["language"])
    config = {c["config_name"]: c for c in front["configs"]}["parquet"]
    assert {f["path"] for f in config["data_files"]} == \
        {e.path for e in manifest.outputs if e.format == "parquet"}
    info = json.loads((out / "dataset_info.json").read_text("utf-8"))
    assert info["scenegraph_openai_train"]["file_name"] == "openai/train.jsonl"
    assert info["scenegraph_alpaca_train"]["formatting"] == "alpaca"
    assert all((out / entry["file_name"]).is_file() for entry in info.values())
    assert manifest.templates and manifest.provenance["source"] == {"corpus": 304}


# -- determinism and safety ---------------------------------------------------------------


def test_re_running_the_same_export_gives_byte_identical_files(seeded_store, exported, tmp_path):
    first, _ = exported
    second = tmp_path / "again"
    export_dataset(seeded_store, second, ExportOptions(directions=ALL_DIRECTIONS))
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_another_seed_draws_other_splits(seeded_store, exported, tmp_path):
    _, first = exported
    other = export_dataset(seeded_store, tmp_path / "seeded",
                           ExportOptions(directions=ALL_DIRECTIONS, seed=7, formats=["parquet"]))
    assert other.counts.pairs == first.counts.pairs
    assert other.counts.by_split != first.counts.by_split


def test_an_existing_folder_is_kept_unless_overwrite(seeded_store, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="already holds files"):
        export_dataset(seeded_store, out, ExportOptions(formats=["openai"]))
    assert (out / "mine.txt").read_text() == "keep me"
    export_dataset(seeded_store, out, ExportOptions(formats=["openai"], overwrite=True))
    assert not (out / "mine.txt").exists() and (out / "manifest.json").exists()


def test_a_failed_export_leaves_nothing_behind(seeded_store, tmp_path):
    with pytest.raises(StoreError):
        export_dataset(seeded_store, tmp_path / "never",
                       ExportOptions(select="MATCH (s:Scene RETURN s.id"))
    assert list(tmp_path.iterdir()) == []


# -- splits -------------------------------------------------------------------------------


def deep_corpus(path: Path, trees: int = 24, depth: int = 5, branching: int = 2) -> Path:
    """Trees of sub-scenes `depth` levels deep, every scene with expressions in two styles."""
    styles = ["поэт", "тело", "философ", "инженер"]

    def scene(sid: str, level: int, index: int) -> dict:
        record = {"id": sid, "title": f"сцена {sid}",
                  "components": {"agent": f"агент{index % 7}", "field": f"поле{level}"},
                  "expressions": [{"text": f"{sid}: {style} говорит", "style": style,
                                   "register": "poetry" if n else "logic"}
                                  for n, style in enumerate(styles[index % 3:index % 3 + 2])]}
        if level < depth:
            record["parts"] = [scene(f"{sid}.{b}", level + 1, index + b) for b in range(branching)]
        return record

    path.write_text(json.dumps({"scenes": [scene(f"T{t}", 1, t) for t in range(trees)]},
                               ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def deep_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deep")
    store = LadybugStore(folder / "store")
    load_corpus(store, [deep_corpus(folder / "deep.json")])
    yield store
    store.close()


def test_no_scene_or_sub_scene_crosses_splits_on_deep_trees(deep_store, tmp_path):
    options = ExportOptions(directions=ALL_DIRECTIONS, formats=["parquet", "records"],
                            split=(0.6, 0.2, 0.2))
    manifest = export_dataset(deep_store, tmp_path / "deep", options)
    assert manifest.leakage.scenes_in_several_splits == 0
    assert manifest.leakage.trees_in_several_splits == 0
    splits_of = defaultdict(set)
    for split, rows in parquet_rows(tmp_path / "deep", manifest).items():
        for row in rows:
            for sid in row["scene_ids"]:
                splits_of[sid].add(split)
    for entry in (e for e in manifest.outputs if e.format == "records"):
        for line in (tmp_path / "deep" / entry.path).read_text("utf-8").splitlines():
            record = json.loads(line)
            splits_of[record.get("id") or record["scene"]].add(entry.split)
    assert set(manifest.counts.by_split) == {"train", "validation", "test"}
    roots = deep_store.run("MATCH (s:Scene) WHERE s.depth = 0 RETURN s.id").column()
    assert len(roots) == 24
    for root in roots:
        tree = deep_store.subtree(root)
        assert len(tree) == 31
        assert len(set().union(*(splits_of[sid] for sid in tree))) == 1, root


def test_splits_are_stratified_by_style_where_the_data_allows(deep_store, tmp_path):
    manifest = export_dataset(deep_store, tmp_path / "strata",
                              ExportOptions(formats=["parquet"], split=(0.5, 0.25, 0.25)))
    styles_by_split = defaultdict(Counter)
    for split, rows in parquet_rows(tmp_path / "strata", manifest).items():
        styles_by_split[split].update(row["style"] for row in rows)
    for split in ("validation", "test"):
        assert set(styles_by_split[split]) == set(styles_by_split["train"])


# -- selection and filters ----------------------------------------------------------------


def test_select_takes_sub_scenes_along_unless_told_not_to(seeded_store, tmp_path):
    query = "MATCH (s:Scene {id: 'Δ31'}) RETURN s.id"
    whole = export_dataset(seeded_store, tmp_path / "a",
                           ExportOptions(select=query, formats=["parquet"], split=(1, 0, 0)))
    alone = export_dataset(seeded_store, tmp_path / "b", ExportOptions(
        select=query, subtree=False, formats=["parquet"], split=(1, 0, 0)))
    tree = set(seeded_store.subtree("Δ31"))
    assert whole.selection["scenes"] == len(tree) > 4 and alone.selection["scenes"] == 1
    rows = parquet_rows(tmp_path / "a", whole)["train"]
    assert {row["scene_ids"][0] for row in rows} <= tree
    assert len(rows) == sum(len(seeded_store.expressions([sid])) for sid in tree)
    assert all(row["scene_ids"] == ["Δ31"] for row in parquet_rows(tmp_path / "b", alone)["train"])


def test_scene_ids_select_too_and_unknown_ids_are_refused(seeded_store, tmp_path):
    manifest = export_dataset(seeded_store, tmp_path / "ids", ExportOptions(
        scene_ids=["Δ17", "Δ1"], formats=["openai"], split=(1, 0, 0)))
    assert manifest.counts.pairs == len(seeded_store.expressions(["Δ17", "Δ1"]))
    with pytest.raises(ConfigError, match="Δ999"):
        export_dataset(seeded_store, tmp_path / "bad", ExportOptions(scene_ids=["Δ999"]))


def test_filters_keep_only_the_voices_asked_for(seeded_store, tmp_path):
    options = ExportOptions(styles=["поэт"], registers=["poetry"], archetypes=["порог"],
                            formats=["parquet"], directions=["forward", "reverse"])
    manifest = export_dataset(seeded_store, tmp_path / "f", options)
    rows = [r for split in parquet_rows(tmp_path / "f", manifest).values() for r in split]
    assert rows and all(r["style"] == "поэт" and r["register"] == "poetry" for r in rows)
    evoking = set(seeded_store.run("MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: 'порог'}) "
                                   "RETURN s.id").column())
    below = set().union(*(seeded_store.subtree(sid) for sid in evoking))
    assert {r["scene_ids"][0] for r in rows} <= below


def test_failed_and_superseded_expressions_stay_out(ladybug_store, tmp_path):
    load_corpus(ladybug_store, [SEEDS])
    ids = [e.id for e in ladybug_store.expressions(["Δ17"])]
    ladybug_store.run("MATCH (e:Expression {id: $id}) SET e.passed = false", {"id": ids[0]}, write=True)
    ladybug_store.run("MATCH (e:Expression {id: $id}) SET e.passed = true", {"id": ids[1]}, write=True)
    ladybug_store.run("MATCH (e:Expression {id: $id}) SET e.status = 'superseded'", {"id": ids[2]},
                      write=True)

    def exported_ids(name: str, **extra) -> set[str]:
        manifest = export_dataset(ladybug_store, tmp_path / name, ExportOptions(
            scene_ids=["Δ17"], subtree=False, formats=["parquet"], split=(1, 0, 0), **extra))
        return {r["expression_id"] for r in parquet_rows(tmp_path / name, manifest)["train"]}

    default = exported_ids("default")
    assert ids[0] not in default and ids[1] in default and ids[2] not in default
    assert set(ids[3:]) <= default  # unchecked expressions (passed None) are kept
    assert ids[0] in exported_ids("failed", include_failed=True)


def test_by_style_writes_one_dataset_per_style(seeded_store, tmp_path):
    manifest = export_dataset(seeded_store, tmp_path / "roles", ExportOptions(
        by_style=True, formats=["openai", "parquet"], directions=["forward", "transfer"]))
    styles = {e.style for e in seeded_store.expressions()}
    assert {e.style for e in manifest.outputs} == styles
    for entry in manifest.outputs:
        assert entry.path.startswith(f"styles/{entry.dataset}/")
        if entry.format == "parquet":
            assert {r["style"] for r in load_output(tmp_path / "roles", entry).to_list()} == {entry.style}
    poet = next(e for e in manifest.outputs if e.style == "поэт")
    info = json.loads((tmp_path / "roles" / "dataset_info.json").read_text("utf-8"))
    assert f"scenegraph_{poet.dataset}_openai_train" in info


def test_max_per_cell_caps_every_style_register_tone_cell(seeded_store, tmp_path):
    manifest = export_dataset(seeded_store, tmp_path / "cap", ExportOptions(
        max_per_cell=5, formats=["parquet"], directions=["forward", "reverse"]))
    cells = Counter()
    for rows in parquet_rows(tmp_path / "cap", manifest).values():
        cells.update((r["direction"], r["style"], r["register"], r["tone"]) for r in rows)
    assert max(cells.values()) <= 5
    # one forward pair per expression, one reverse pair per form that can answer it (issue 15)
    expressions = seeded_store.expressions()
    answerable = sum(e.form in REVERSE_FORMS for e in expressions)
    assert manifest.counts.capped and sum(manifest.counts.capped.values()) + \
        manifest.counts.pairs == len(expressions) + answerable


def test_zstd_compression_loads_and_holds_the_same_rows(seeded_store, exported, tmp_path):
    plain, _ = exported
    manifest = export_dataset(seeded_store, tmp_path / "z", ExportOptions(
        directions=ALL_DIRECTIONS, formats=["openai", "records", "parquet"], compress="zstd"))
    zstandard = pytest.importorskip("zstandard")
    for entry in manifest.outputs:
        if entry.format == "parquet":
            continue
        assert entry.path.endswith(".jsonl.zst")
        assert load_output(tmp_path / "z", entry).num_rows == entry.rows
        data = zstandard.ZstdDecompressor().stream_reader(
            (tmp_path / "z" / entry.path).read_bytes()).read()
        assert data == (plain / entry.path.removesuffix(".zst")).read_bytes()
    info = json.loads((tmp_path / "z" / "dataset_info.json").read_text("utf-8"))
    assert all(v["file_name"].endswith(".parquet") for v in info.values())


# -- records: the corpus leaves and comes back --------------------------------------------


def graph_snapshot(store) -> dict[str, list]:
    """Every node with every property and every relationship with its properties, sorted."""
    out = {}
    for label, table in schema().nodes.items():
        rows = store.run(f"MATCH (n:{label}) RETURN " + ", ".join(f"n.{c}" for c in table.columns)).rows
        out[label] = sorted(rows, key=repr)
    for rel_type, rel in schema().rels.items():
        src, dst = schema().key_of(rel.source), schema().key_of(rel.target)
        props = "".join(f", r.{c}" for c in rel.columns)
        rows = store.run(f"MATCH (a:{rel.source})-[r:{rel_type}]->(b:{rel.target}) "
                         f"RETURN a.{src}, b.{dst}{props}").rows
        out[rel_type] = sorted(rows, key=repr)
    return out


@pytest.fixture(scope="module")
def reloaded(seeded_store, tmp_path_factory):
    folder = tmp_path_factory.mktemp("roundtrip")
    manifest = export_dataset(seeded_store, folder / "out", ExportOptions(formats=["records"]))
    store = LadybugStore(folder / "fresh")
    load_corpus(store, [folder / "out" / e.path for e in manifest.outputs])
    yield store
    store.close()


def test_records_bring_back_the_whole_graph_including_provenance(seeded_store, reloaded):
    assert graph_snapshot(reloaded) == graph_snapshot(seeded_store)


def test_records_keep_the_source_record_shape(exported):
    out, _ = exported
    records = [json.loads(line) for split in ("train", "validation", "test")
               for line in (out / f"records/{split}.jsonl").read_text("utf-8").splitlines()]
    source = json.loads((SEEDS / "records.jsonl").read_text("utf-8").splitlines()[0])
    twin = next(r for r in records if r.get("scene") == "Δ17" and r.get("text_human") == source["text_human"])
    # the style loads by its canonical name, the spelling as given kept in provenance (issue 15)
    assert twin["text_alt"] == source["text_alt"]
    assert twin["style"] == vocabulary().resolve("style", source["style"]) != source["style"]
    assert twin["provenance"]["style_as_given"] == source["style"]
    assert set(twin["components"]["meta"]) == set(source["components"]["meta"])
    assert twin["components"]["agent"] == [source["components"]["agent"]]


# -- both stores --------------------------------------------------------------------------


@pytest.mark.neo4j
def test_neo4j_and_the_embedded_store_export_the_same_bytes(seeded_store, neo4j_store, tmp_path):
    load_corpus(neo4j_store, [SEEDS])
    for name, options in {
        "all": ExportOptions(directions=ALL_DIRECTIONS),
        "some": ExportOptions(directions=ALL_DIRECTIONS, formats=["openai", "records"],
                              select="MATCH (s:Scene)-[:EVOKES]->(:Archetype {name: 'порог'}) "
                                     "RETURN s", scene_ids=["Δ101"], by_style=True),
    }.items():
        embedded = export_dataset(seeded_store, tmp_path / f"{name}-embedded", options)
        server = export_dataset(neo4j_store, tmp_path / f"{name}-neo4j", options)
        assert server.source["dialect"] == "neo4j"
        assert server.model_dump(exclude={"source"}) == embedded.model_dump(exclude={"source"})
        for entry in embedded.files:
            assert (tmp_path / f"{name}-neo4j" / entry.path).read_bytes() == \
                (tmp_path / f"{name}-embedded" / entry.path).read_bytes(), entry.path

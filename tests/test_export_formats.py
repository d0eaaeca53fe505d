"""Export formats (issue 15): rows shuffled by the seed and in the same order in every format,
metadata in every row (a sidecar for OpenAI), the prompt-completion format, small styles merged
under --by-style, and a card that says what a user needs."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
import orjson
import yaml
from click.testing import CliRunner

from conftest import SEEDS
from scenegraph.cli import cli
from scenegraph.export import ExportOptions, Manifest, export_dataset
from scenegraph.export.formats import Part
from scenegraph.export.formats import spill as spill_module
from scenegraph.export.formats.chat import OpenAIFormat
from scenegraph.export.formats.spill import LineSpill, TableSpill, row_keys
from scenegraph.export.manifest import CardExtras, card
from scenegraph.export.rows import Pair
from scenegraph.graph.export import ExpressionRow

pq = pytest.importorskip("pyarrow.parquet")

ALL_DIRECTIONS = ["forward", "reverse", "transfer"]
META_KEYS = ("id", "direction", "scene_ids", "expression_id", "source_expression_id", "style",
             "register", "tone", "form", "target", "lang")


@pytest.fixture(scope="module")
def exported(seeded_store, tmp_path_factory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("formats") / "dataset"
    return out, export_dataset(seeded_store, out, ExportOptions(directions=ALL_DIRECTIONS))


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def parquet(out: Path, split: str = "train") -> list[dict]:
    return pq.read_table(out / f"parquet/{split}.parquet").to_pylist()


# -- row order ----------------------------------------------------------------------------


def test_train_rows_are_shuffled_not_grouped_by_scene(exported):
    out, _ = exported
    scenes = [row["scene_ids"][0] for row in parquet(out)]
    n = len(scenes)
    together = sum(a == b for a, b in zip(scenes, scenes[1:])) / (n - 1)
    chance = sum(c * (c - 1) for c in Counter(scenes).values()) / (n * (n - 1))
    # grouped by scene, 91% of neighbouring rows shared one (chance: 2%)
    assert together < 3 * chance + 0.02, (together, chance)
    assert len(set(scenes[:100])) > len(set(scenes)) / 2


def test_every_format_holds_the_rows_in_the_same_order(exported):
    out, manifest = exported
    for split in manifest.counts.by_split:
        rows = parquet(out, split)
        openai = jsonl(out / f"openai/{split}.jsonl")
        assert [r["messages"] for r in openai] == [r["messages"] for r in rows]
        for fmt in ("sharegpt", "alpaca", "prompt-completion"):
            assert [r["id"] for r in jsonl(out / f"{fmt}/{split}.jsonl")] == [r["id"] for r in rows]
        import datasets

        hf = datasets.load_from_disk(str(out / "hf"))[split]
        assert hf["id"] == [r["id"] for r in rows]


def test_the_order_depends_on_the_seed_and_the_ids_only():
    ids = ["forward-a", "forward-b", "reverse-a", "transfer-a-b"]
    orders = {tuple(sorted(ids, key=dict(zip(ids, row_keys(seed, ids))).get)) for seed in range(6)}
    assert len(orders) > 1
    assert row_keys(3, ids) == row_keys(3, ids) != row_keys(4, ids)
    assert row_keys(3, ids[::-1]) == row_keys(3, ids)[::-1]


def test_a_line_spill_gives_rows_back_by_key_and_takes_over_another(tmp_path):
    first, second = LineSpill(tmp_path / "a", True), LineSpill(tmp_path / "b", True)
    first.add([[b"c\n", b"a\n"]], [30, 10])
    first.add([[b"e\n"]], [50])
    second.add([[b"b\n", b"d\n"]], [20, 40])
    first.absorb(second)
    blocks = list(first.blocks())
    assert blocks == [[[b"a\n", b"b\n", b"c\n", b"d\n", b"e\n"]]]  # one bucket of keys
    assert not any(tmp_path.iterdir())
    plain = LineSpill(tmp_path / "c", False)
    plain.add([[b"z\n", b"y\n"]], ())
    plain.add([[b"x\n"]], ())
    assert [line for block in plain.blocks() for line in block[0]] == [b"z\n", b"y\n", b"x\n"]
    with pytest.raises(ValueError, match="2 rows but 1"):
        LineSpill(tmp_path / "d", True).add([[b"a\n", b"b\n"]], [1])
    with pytest.raises(ValueError, match="each of the 2 streams"):
        LineSpill(tmp_path / "e", True, streams=2).add([[b"a\n", b"b\n"], [b"m\n"]], [1, 2])


def test_a_line_spill_orders_rows_and_their_sidecar_lines_like_a_stable_sort_by_key(tmp_path):
    """Keys across every bucket, ties among them, several adds and a merged spill: the rows and
    their second-stream lines come back exactly as a stable sort of all keys by arrival."""
    rng = random.Random(5)
    spills = [LineSpill(tmp_path / name, True, streams=2) for name in ("a", "b")]
    arrived = []
    for n in range(40):
        keys = [rng.choice([rng.getrandbits(64), 7, 2**63]) for _ in range(rng.randint(0, 30))]
        rows = [(f"r{n}-{i}\n".encode(), f"m{n}-{i}{'x' * i}\n".encode()) for i in range(len(keys))]
        spills[n % 2].add([[r for r, _ in rows], [m for _, m in rows]], keys)
        arrived.append((n % 2, list(zip(keys, rows))))
    spills[0].absorb(spills[1])
    expected = [row for spill in (0, 1) for which, rows in arrived if which == spill
                for row in rows]
    expected.sort(key=lambda kr: kr[0])  # stable: ties stay in arrival order
    blocks = list(spills[0].blocks())
    assert [line for block in blocks for line in block[0]] == [r for _, (r, _) in expected]
    assert [line for block in blocks for line in block[1]] == [m for _, (_, m) in expected]
    assert len(blocks) > 1 and spills[0].rows == len(expected)


def test_a_table_spill_gathers_rows_across_batches_in_key_order(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_module, "BLOCK_ROWS", 4)
    schema = pa.schema([("n", pa.int64())])
    spill = TableSpill(tmp_path / "t", True, schema)
    keys = [7, 3, 9, 1, 8, 0, 5, 2, 6, 4]
    for start in range(0, 10, 3):
        spill.add(pa.table({"n": list(range(start, min(start + 3, 10)))}, schema=schema),
                  keys[start:start + 3])
    other = TableSpill(tmp_path / "u", True, schema)
    other.add(pa.table({"n": [10, 11]}, schema=schema), [10, 11])
    spill.absorb(other)
    got = [n for block in spill.blocks() for n in block.column("n").to_pylist()]
    assert got == sorted(range(12), key=lambda n: (keys + [10, 11])[n])
    assert not any(tmp_path.iterdir())


# -- metadata in rows ---------------------------------------------------------------------


def test_openai_rows_have_only_messages_and_a_sidecar_numbers_their_metadata(exported):
    out, manifest = exported
    for entry in (e for e in manifest.outputs if e.format == "openai"):
        assert entry.sidecar == entry.path.replace(".jsonl", ".meta.jsonl")
        rows, meta = jsonl(out / entry.path), jsonl(out / entry.sidecar)
        assert all(set(row) == {"messages"} for row in rows)
        assert [m["row"] for m in meta] == list(range(entry.rows)) == list(range(len(rows)))
        expected = parquet(out, entry.split)
        assert [{k: m[k] for k in META_KEYS} for m in meta] == \
            [{k: r[k] for k in META_KEYS} for r in expected]


def test_openai_lines_are_what_orjson_writes_for_the_messages(tmp_path):
    """The OpenAI format puts each line together from escaped pieces; the bytes must be those
    of ``orjson.dumps({"messages": …})`` whatever the texts hold."""
    texts = ['quote " and \\ back', "line\nbreak\ttab \x01\x1f", "Сцена 🕳️ 漢字", "", "</a>"]
    pairs = []
    shifted = zip(texts, texts[1:] + texts[:1], texts[2:] + texts[:2])
    for n, (instruction, block, answer) in enumerate(shifted):
        expr = ExpressionRow(f"x{n}", answer, "text", "поэт", None, None, None, "ru", {}, {},
                             None, None, ["S1"])
        for direction in ("forward", "reverse", "transfer"):
            pairs.append(Pair(direction, expr, None, instruction, block, answer))
    pairs.append(Pair("forward", pairs[0].expression, None, texts[0], texts[1], "again"))
    fmt = OpenAIFormat(tmp_path, "openai", ExportOptions())
    assert fmt.lines(Part(pairs=pairs)) == [
        orjson.dumps({"messages": pair.messages()}, option=orjson.OPT_APPEND_NEWLINE)
        for pair in pairs
    ]


def test_sharegpt_alpaca_and_prompt_completion_rows_carry_the_metadata(exported):
    out, manifest = exported
    expected = parquet(out)
    for fmt in ("sharegpt", "alpaca", "prompt-completion"):
        rows = jsonl(out / f"{fmt}/train.jsonl")
        assert [{k: r[k] for k in META_KEYS} for r in rows] == \
            [{k: r[k] for k in META_KEYS} for r in expected], fmt
    assert {r["direction"] for r in expected} == set(ALL_DIRECTIONS)
    assert all(r["scene_ids"] for r in expected)


def test_prompt_completion_rows_are_the_chat_split_before_the_answer(exported):
    out, _ = exported
    rows = jsonl(out / "prompt-completion/train.jsonl")
    for row, chat in zip(rows, jsonl(out / "openai/train.jsonl")):
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert [m["role"] for m in row["completion"]] == ["assistant"]
        assert row["prompt"] + row["completion"] == chat["messages"]


def test_alpaca_prompts_are_the_chat_prompts_whichever_way_a_reader_joins(exported):
    out, _ = exported
    for row, chat in zip(jsonl(out / "alpaca/train.jsonl"), jsonl(out / "openai/train.jsonl")):
        # LLaMA-Factory joins instruction and a non-empty input with one newline
        prompt = "\n".join(part for part in (row["instruction"], row["input"]) if part)
        assert prompt == chat["messages"][1]["content"] and "\n\n" in prompt


def test_llama_factory_gets_what_it_can_read_and_nothing_else(exported):
    out, _ = exported
    info = json.loads((out / "dataset_info.json").read_text("utf-8"))
    assert {v["file_name"].split("/")[0] for v in info.values()} == \
        {"openai", "sharegpt", "alpaca", "parquet"}
    assert not any(".meta." in v["file_name"] for v in info.values())


# -- --by-style ---------------------------------------------------------------------------


def test_styles_below_the_minimum_go_together_into_other(seeded_store, tmp_path):
    options = dict(by_style=True, formats=["openai", "parquet", "records"],
                   directions=["forward"])
    alone = export_dataset(seeded_store, tmp_path / "alone", ExportOptions(**options,
                                                                           min_style_rows=0))
    train = {e.style: e.rows for e in alone.outputs if e.format == "parquet" and e.split == "train"}
    minimum = sorted(train.values())[len(train) // 2]  # about half the styles fall below
    small = {style for style, n in train.items() if n < minimum}
    merged = export_dataset(seeded_store, tmp_path / "merged",
                            ExportOptions(**options, min_style_rows=minimum))
    assert merged.merged_styles == {style: train[style] for style in small} != {}
    assert any(f"fewer than {minimum} training rows" in w and "styles/other" in w
               for w in merged.warnings)
    other = [e for e in merged.outputs if e.dataset == "other"]
    assert {e.format for e in other} == {"openai", "parquet", "records"}
    by_split = {e.split: e.rows for e in other if e.format == "parquet"}
    assert by_split["train"] == sum(train[s] for s in small)
    rows = pq.read_table(tmp_path / "merged" / "styles/other/parquet/train.parquet").to_pylist()
    assert {r["style"] for r in rows} == small
    kept = {e.style for e in merged.outputs if e.dataset != "other"}
    assert kept == set(train) - small
    folders = {p.name for p in (tmp_path / "merged" / "styles").iterdir()}
    assert folders == {e.dataset for e in merged.outputs}
    assert sum(e.rows for e in merged.outputs if e.format == "parquet") == merged.counts.pairs
    assert not (tmp_path / "merged" / ".spill").exists()
    assert "Merged into `styles/other`" in (tmp_path / "merged" / "README.md").read_text("utf-8")


def test_the_cli_takes_the_minimum_and_prints_the_warning(tmp_path):
    store, out = str(tmp_path / "g"), tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(cli, ["--store", store, "load", str(SEEDS)]).exit_code == 0
    result = runner.invoke(cli, ["--store", store, "export", str(out), "--by-style",
                                 "--formats", "openai", "--min-style-rows", "1000"])
    assert result.exit_code == 0, result.output
    assert "warning: --by-style:" in result.output and "fewer than 1000" in result.output
    assert [p.name for p in (out / "styles").iterdir()] == ["other"]


# -- the card -----------------------------------------------------------------------------


def front_and_body(out: Path) -> tuple[dict, str]:
    _, front, body = (out / "README.md").read_text("utf-8").split("---\n", 2)
    return yaml.safe_load(front), body


def test_the_card_says_license_provenance_example_loading_and_limits(exported):
    out, manifest = exported
    front, body = front_and_body(out)
    assert "license" not in front and "License: not stated" in body and "--license" in body
    assert "## How the texts were made" in body
    assert f"{manifest.provenance['source']['corpus']} from the source corpus" in body
    example = json.loads(body.split("```json\n")[1].split("\n```")[0])
    assert example == parquet(out)[0]
    for config in front["configs"]:
        assert f'load_dataset("path/to/export", "{config["config_name"]}")' in body
    assert "datasets` 4 or later" in body and "cache-*.arrow" in body
    assert "## Limitations" in body
    assert "not registered" in body and "`.jsonl.zst`" in body


def test_a_license_when_given_goes_in_front_matter_and_text(seeded_store, tmp_path):
    export_dataset(seeded_store, tmp_path / "l", ExportOptions(formats=["parquet"],
                                                              license="cc-by-4.0"))
    front, body = front_and_body(tmp_path / "l")
    assert front["license"] == "cc-by-4.0" and "License: cc-by-4.0." in body


def test_the_card_has_named_places_for_the_reverse_rule_and_near_duplicates(exported):
    out, manifest = exported
    plain = card(manifest, ["ru"])
    filled = card(manifest, ["ru"], extras=CardExtras(reverse_rule="RULE-SENTENCE.",
                                                      near_duplicates="Δ105 ~ Δ106."))
    assert "RULE-SENTENCE" not in plain and "Δ105 ~ Δ106" not in plain
    directions = filled.split("## Directions")[1].split("## ")[0]
    splits = filled.split("## Splits")[1].split("## ")[0]
    assert "RULE-SENTENCE." in directions and "Δ105 ~ Δ106." in splits


def test_without_parquet_the_card_configs_are_the_json_lines_formats(seeded_store, tmp_path):
    export_dataset(seeded_store, tmp_path / "j", ExportOptions(
        formats=["openai", "prompt-completion", "records"]))
    front, _ = front_and_body(tmp_path / "j")
    assert [c["config_name"] for c in front["configs"]] == ["openai", "prompt-completion"]

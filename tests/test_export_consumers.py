"""Consumers of an export (issue 15): `datasets` loads every config of the dataset card by
name, as `load_dataset(export_dir, name)` and the Hub do, with the manifest's row counts."""

from __future__ import annotations


import pytest
import yaml

from scenegraph.export import ExportOptions, export_dataset

datasets = pytest.importorskip("datasets")
datasets.disable_progress_bars()

ALL_DIRECTIONS = ["forward", "reverse", "transfer"]


@pytest.mark.parametrize("options", [
    {},
    {"formats": ["openai", "sharegpt", "alpaca", "prompt-completion", "records"]},
    {"formats": ["openai", "parquet", "records"], "compress": "zstd"},
    {"formats": ["openai", "prompt-completion"], "compress": "zstd"},
    {"formats": ["openai", "parquet"], "by_style": True, "min_style_rows": 20},
], ids=["every-format", "json-lines-only", "zstd", "zstd-json-lines", "by-style"])
def test_every_config_of_the_card_loads_by_name_with_the_manifests_rows(
        seeded_store, tmp_path, options):
    out = tmp_path / "dataset"
    manifest = export_dataset(seeded_store, out,
                              ExportOptions(directions=ALL_DIRECTIONS, **options))
    front = yaml.safe_load((out / "README.md").read_text("utf-8").split("---\n")[1])
    assert front["configs"]
    for config in front["configs"]:
        name = config["config_name"]
        loaded = datasets.load_dataset(str(out), name, cache_dir=str(tmp_path / "cache"))
        expected = {e.split: e.rows for e in manifest.outputs
                    if name in (e.format, f"{e.dataset}-{e.format}")}
        assert {split: ds.num_rows for split, ds in loaded.items()} == expected, name
        assert {f["path"] for f in config["data_files"]} == \
            {e.path for e in manifest.outputs if name in (e.format, f"{e.dataset}-{e.format}")}
    default = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert set(default) == {f["split"] for f in front["configs"][0]["data_files"]}


def test_the_parquet_config_carries_direction_style_and_scenes(seeded_store, tmp_path):
    out = tmp_path / "dataset"
    export_dataset(seeded_store, out, ExportOptions(directions=ALL_DIRECTIONS))
    train = datasets.load_dataset(str(out), "parquet", cache_dir=str(tmp_path / "cache"))["train"]
    assert {"id", "direction", "style", "scene_ids", "messages"} <= set(train.column_names)
    assert set(train["direction"]) == set(ALL_DIRECTIONS)

"""`scenegraph export` on the command line: options reach the library, errors are one line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from conftest import SEEDS
from scenegraph.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_export_writes_what_the_options_say_and_prints_the_manifest(tmp_path):
    store, out = str(tmp_path / "g"), tmp_path / "out"
    assert run("--store", store, "load", str(SEEDS)).exit_code == 0
    result = run("--store", store, "export", str(out), "--directions", "forward,reverse",
                 "--formats", "openai,records", "--split", "0.9,0.1,0", "--style", "поэт",
                 "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert manifest["options"]["directions"] == ["forward", "reverse"]
    assert manifest["options"]["styles"] == ["поэт"]
    assert set(manifest["counts"]["by_split"]) <= {"train", "validation"}
    assert {e["format"] for e in manifest["outputs"]} == {"openai", "records"}
    assert (out / "manifest.json").is_file() and (out / "README.md").is_file()

    again = run("--store", store, "export", str(out))
    assert again.exit_code == 1 and "--force" in again.output
    bad = run("--store", store, "export", str(tmp_path / "x"), "--directions", "sideways")
    assert bad.exit_code == 1
    assert bad.output.count("\n") == 1 and bad.output.startswith("Error: --directions")
    assert not (tmp_path / "x").exists()


def test_help_says_which_expressions_go_out():
    text = " ".join(run("export", "--help").output.split())
    assert "passed unset) are always included" in text and "superseded ones never" in text

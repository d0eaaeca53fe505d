"""The CLI contract: every command has help with an example, errors are one line, writes need
--write, and the README's command list matches the real commands."""

from __future__ import annotations

import json
import re

import click
import pytest
from click.testing import CliRunner

from conftest import ROOT, SEEDS
from scenegraph.cli import cli


def all_commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    out = {}
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out.update(all_commands(command, f"{full} "))
        else:
            out[full] = command
    return out


def run(*args: str, store=None):
    prefix = ["--store", str(store)] if store else []
    return CliRunner().invoke(cli, [*prefix, *args], catch_exceptions=False)


@pytest.mark.parametrize("name", sorted(all_commands()))
def test_every_command_has_help_with_an_example(name):
    result = run(*name.split(), "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output and "scenegraph" in result.output.split("Example:")[1]


def test_help_defaults_are_the_options_models_defaults():
    """`--help` shows the defaults the library applies; none is restated by hand."""
    from scenegraph.cli import default_text
    from scenegraph.export.options import ExportOptions
    from scenegraph.generation.options import GenerateOptions

    for param in cli.commands["generate"].params:
        field = GenerateOptions.model_fields.get(param.name or "")
        if field is None or field.get_default(call_default_factory=True) in (None, False, True, []):
            continue
        note = re.search(r"\[([^\]]+)\]$", getattr(param, "help", "") or "")
        assert note, f"--help of generate's {param.name} does not show its default"
        assert note.group(1) == default_text(GenerateOptions, param.name)
    assert "[8]" in run("generate", "--help").output.split("--per-request", 1)[1].split("\n")[0]
    exported = {p.name: p.default for p in cli.commands["export"].params}
    assert exported["directions"] == ",".join(ExportOptions().directions)
    assert exported["formats"] == ",".join(ExportOptions().formats)
    assert int(exported["seed"]) == ExportOptions().seed


def test_readme_lists_every_command_and_no_other():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z ]+)` \|", section, flags=re.MULTILINE))
    assert documented == set(all_commands())


def test_load_stats_and_cypher(tmp_path):
    store = tmp_path / "g"
    assert run("load", str(SEEDS), store=store).exit_code == 0
    counts = json.loads(run("stats", "--json", store=store).output)
    assert counts["Scene"] >= 60
    rows = json.loads(run("cypher", "--json", "MATCH (s:Scene {id: $id}) RETURN s.id AS id",
                          "-p", "id=Δ17", store=store).output)
    assert rows == [{"id": "Δ17"}]


def test_cypher_refuses_a_write_without_the_flag(tmp_path):
    store = tmp_path / "g"
    run("init", store=store)
    refused = run("cypher", "CREATE (n:Scene {id: 'x'})", store=store)
    assert refused.exit_code == 1
    assert refused.output.strip().startswith("Error: refused: CREATE")
    assert json.loads(run("stats", "--json", store=store).output)["Scene"] == 0
    assert run("cypher", "--write", "CREATE (n:Scene {id: 'x'})", store=store).exit_code == 0
    assert json.loads(run("stats", "--json", store=store).output)["Scene"] == 1


def test_bad_corpus_exits_non_zero_with_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"scene": "Δ1", "components": {"mood": "x"}}\n{oops\n', encoding="utf-8")
    result = run("load", str(bad), store=tmp_path / "g")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"Error: {bad}:") for line in lines)


def test_hyperlexeme_commands(tmp_path):
    store = tmp_path / "g"
    run("load", str(SEEDS), store=store)
    parsed = json.loads(run("hyperlexeme", "parse", "жартишинавход", "--json", store=store).output)
    assert parsed["named_scenes"] == ["Δ42"]
    assert [s["name"] for s in parsed["candidates"][0]["segments"]] == ["жар", "тишина", "вход"]
    composed = json.loads(run("hyperlexeme", "compose", "Δ42", "--json", store=store).output)
    assert set(composed["hyperlexeme"]) >= set("тишина")
    missing = run("hyperlexeme", "compose", "Δ404", store=store)
    assert missing.exit_code == 1 and "no scene 'Δ404'" in missing.output

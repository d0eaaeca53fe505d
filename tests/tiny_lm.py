"""A tiny causal language model made on the spot, for tests that train or run a model on CPU.

Nothing is downloaded: a byte-level BPE tokenizer is trained with ``tokenizers`` on the seed
corpus's text (Cyrillic and all), a two-layer Llama of 64 dimensions is initialised at random,
and both are saved with a plain chat template into one folder that ``transformers`` (and
``scenegraph train --base-model`` / ``evaluate --hf-model``) load like any hub model::

    folder = save_tiny_model(tmp_path / "tiny")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from conftest import SEEDS

VOCAB_SIZE = 1_000
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
# Roles in brackets, the answer closed by the end token (the completion the trainer learns).
CHAT_TEMPLATE = (
    "{% for m in messages %}[{{ m.role }}] {{ m.content }}"
    "{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)


def corpus_lines(root: Path = SEEDS) -> Iterator[str]:
    """Every non-empty line of the seed corpus's files: the text the tokenizer learns from."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield line


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Train the tokenizer, initialise the model, save both (and the template) into ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    bpe.train_from_iterator(corpus_lines(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, **SPECIAL)
    tokenizer.chat_template = CHAT_TEMPLATE

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

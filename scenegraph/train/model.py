"""The base model's side of training: the libraries it needs, its tokenizer and architecture,
which of its layers get LoRA matrices, and whether it loads in 4 bits (QLoRA)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError
from .options import TrainOptions

EXTRA = "pip install 'scenegraph[train]'"
# Llama-style blocks: LoRA on every attention and MLP projection, which trains markedly better
# than PEFT's default of q and v alone (QLoRA paper, section 4) for little more memory.
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LLAMA_LIKE = frozenset({"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2"})


def require_libraries() -> None:
    """One line naming the extra to install when TRL or PEFT is missing."""
    missing = [name for name in ("trl", "peft") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"training needs {' and '.join(missing)}: {EXTRA}")


def target_modules(architecture: str, given: list[str]) -> list[str] | str:
    """The modules given, else every projection of a Llama-style block, else PEFT's own
    mapping for the architecture, else every linear layer but the output head."""
    if given:
        return given
    if architecture in LLAMA_LIKE:
        return PROJECTIONS
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    known = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(architecture)
    return list(known) if known else "all-linear"


@dataclass
class Base:
    """The base model as the trainer gets it: its name, tokenizer, how to load it, and where."""

    name: str
    tokenizer: Any
    architecture: str
    device: str
    quantization: Literal["4bit-nf4", "none"]
    init_kwargs: dict[str, Any]  # for from_pretrained (dtype, quantization, device map)
    bf16: bool  # mixed precision for the trainer: bf16 where CUDA has it, else fp16 on CUDA
    fp16: bool
    notes: list[str] = field(default_factory=list)


def load_base(options: TrainOptions) -> Base:
    """Tokenizer and config of the base model (a hub id or a folder); the weights are loaded
    by the trainer, in 4-bit NF4 when QLoRA applies."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(options.base_model)
        tokenizer = AutoTokenizer.from_pretrained(options.base_model)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--base-model {options.base_model}: cannot load it ({str(exc).splitlines()[0]}); "
            "name a hub id (downloaded once) or a folder saved with save_pretrained"
        ) from None
    if not tokenizer.chat_template:
        raise ConfigError(
            f"--base-model {options.base_model}: its tokenizer has no chat template, which the "
            "chat-format rows need; pick an instruct model (or add a template to the folder)"
        )
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float16 if cuda else torch.float32
    base = Base(
        name=options.base_model,
        tokenizer=tokenizer,
        architecture=config.model_type,
        device="cuda" if cuda else "cpu",
        quantization="none",
        init_kwargs={"dtype": dtype},
        bf16=bf16,
        fp16=cuda and not bf16,
    )
    _quantize(base, options, dtype)
    return base


def _quantize(base: Base, options: TrainOptions, dtype: Any) -> None:
    """QLoRA (4-bit NF4 weights, double quantisation, bf16 or fp16 compute) when asked
    for or, with ``auto``, when CUDA and bitsandbytes are there; else a note saying why not."""
    if options.quantize == "none":
        return
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if base.device != "cuda" or not has_bnb:
        reason = "no CUDA device" if base.device != "cuda" else "bitsandbytes is not installed"
        if options.quantize == "4bit":
            raise ConfigError(
                f"--quantize 4bit: {reason}; use --quantize none, or a CUDA "
                "machine with bitsandbytes (pip install bitsandbytes)"
            )
        base.notes.append(f"plain LoRA, not QLoRA: {reason}")
        return
    import torch
    from transformers import BitsAndBytesConfig

    base.quantization = "4bit-nf4"
    base.init_kwargs["quantization_config"] = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )
    base.init_kwargs["device_map"] = {"": torch.cuda.current_device()}

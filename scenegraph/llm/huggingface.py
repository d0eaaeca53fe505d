"""The ``huggingface`` provider: a local causal language model folder (and, optionally, a PEFT
adapter trained on it) answering through ``transformers``, on CPU or CUDA.

The prompt is the model's own chat template applied to the request's messages, the answer is
decoded greedily (the same answer every time, as an evaluation needs) up to ``max_tokens`` new
tokens. Generation runs in a worker thread, one request at a time, so the event loop stays
free for the journal and progress. ``transformers``, ``torch`` and ``peft`` load on first use;
``peft`` only when an adapter is given.
"""

from __future__ import annotations

import asyncio
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import Ask, Completion, Provider, Rejected


class HuggingFaceProvider(Provider):
    name = "huggingface"

    def __init__(
        self,
        model_dir: Path,
        adapter: Path | None = None,
        max_tokens: int = 256,
        device: str | None = None,
    ):
        self.model_dir = Path(model_dir)
        self.adapter = Path(adapter) if adapter is not None else None
        self.max_tokens = max_tokens
        self.device = device
        for label, folder in (("--hf-model", self.model_dir), ("--adapter", self.adapter)):
            if folder is not None and not folder.is_dir():
                raise ConfigError(f"{label} {folder}: not a folder; name a saved model folder")
        self.model = str(self.model_dir.resolve()) + (
            f"+{self.adapter.resolve()}" if self.adapter is not None else ""
        )
        self._lock = threading.Lock()

    def params(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "decoding": "greedy"}

    @cached_property
    def _loaded(self) -> tuple[Any, Any, str]:
        """(model, tokenizer, device), loaded once."""
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(
                f"--hf-model needs transformers and torch ({exc}): pip install transformers torch"
            ) from None
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--hf-model {self.model_dir}: cannot load it ({exc})") from None
        if self.adapter is not None:
            model = _with_adapter(model, self.adapter)
        if tokenizer.chat_template is None:
            raise ConfigError(
                f"--hf-model {self.model_dir}: the tokenizer has no chat template; save one "
                "with the tokenizer (tokenizer.chat_template)"
            )
        return model.to(device).eval(), tokenizer, device  # type: ignore[arg-type]

    async def complete(self, ask: Ask) -> Completion:
        return await asyncio.to_thread(self._generate, ask)

    def _generate(self, ask: Ask) -> Completion:
        import torch

        started = time.perf_counter()
        with self._lock:
            model, tokenizer, device = self._loaded
            try:
                prompt = tokenizer.apply_chat_template(
                    ask.messages, add_generation_prompt=True, return_tensors="pt"
                )
            except Exception as exc:  # a template that refuses the roles (no system turn…)
                raise Rejected(f"the chat template refused the messages: {exc}") from None
            if not isinstance(prompt, torch.Tensor):  # transformers 5 returns a BatchEncoding
                prompt = prompt["input_ids"]
            prompt = prompt.to(device)
            with torch.inference_mode():
                output = model.generate(
                    input_ids=prompt,
                    attention_mask=torch.ones_like(prompt),
                    max_new_tokens=self.max_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                )
        new = output[0, prompt.shape[1] :]
        stopped = bool(len(new)) and int(new[-1]) == tokenizer.eos_token_id
        return Completion(
            text=tokenizer.decode(new, skip_special_tokens=True),
            finish_reason="stop" if stopped or len(new) < self.max_tokens else "length",
            prompt_tokens=int(prompt.shape[1]),
            completion_tokens=len(new),
            latency_s=time.perf_counter() - started,
        )


def _with_adapter(model: Any, adapter: Path) -> Any:
    try:
        from peft import PeftModel
    except ImportError:
        raise ConfigError("--adapter needs peft: pip install peft") from None
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--adapter {adapter}: cannot load it ({exc})") from None

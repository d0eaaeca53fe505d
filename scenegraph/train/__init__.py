"""Train a LoRA adapter (QLoRA on CUDA with bitsandbytes) on an export, with TRL and PEFT.

    from scenegraph.train import TrainOptions, train
    options = TrainOptions(base_model="Qwen/Qwen2.5-0.5B-Instruct")
    report = train("out/dataset", "out/adapter", options)

Modules: ``options`` (options, progress, report, card facts), ``data`` (the export's manifest,
datasets and rows), ``model`` (base model, target modules, quantization), ``card`` (the adapter
card), ``run`` (the trainer per dataset, checkpoints and resume). TRL and PEFT come with the
``train`` extra and load only when a run starts.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from .options import AdapterCard, AdapterRun, TrainOptions, TrainProgress, TrainReport

if TYPE_CHECKING:
    from .run import train

# The run (torch, transformers, TRL, PEFT) loads on first use: the options stay cheap to import.
__getattr__ = lazy_attributes(__name__, {"train": ".run"})

__all__ = ["AdapterCard", "AdapterRun", "TrainOptions", "TrainProgress", "TrainReport", "train"]

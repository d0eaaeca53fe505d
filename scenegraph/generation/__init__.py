"""Generation: scenes (or walked passages) × voices → prompts → a model → Expression nodes.

    from scenegraph.generation import GenerateOptions, generate
    report = generate(store, GenerateOptions(provider="template"))

Modules: ``config`` (styles, registers, tones, forms), ``plan`` (items and their keys),
``walks`` (graph context and passages), ``prompts`` (Jinja2 templates), ``journal`` (the items
of resumable runs), ``run`` (the async loop and the writer), ``batch_run`` (the
same through a batch API). Providers, retries, the answer
parser and the journal file are ``scenegraph.llm``'s.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from .config import GenerationConfig, load_config
from .options import (
    BatchStatus,
    Estimate,
    Failure,
    GenerateOptions,
    GenerateProgress,
    GenerateReport,
)

if TYPE_CHECKING:
    from .batch_run import batch_status
    from .run import agenerate, generate


# The run loop (and the libraries under it) loads on first use: the options stay cheap to import.
__getattr__ = lazy_attributes(
    __name__, {"agenerate": ".run", "generate": ".run", "batch_status": ".batch_run"}
)


__all__ = [
    "BatchStatus",
    "Estimate",
    "Failure",
    "GenerateOptions",
    "GenerateProgress",
    "GenerateReport",
    "GenerationConfig",
    "agenerate",
    "batch_status",
    "generate",
    "load_config",
]

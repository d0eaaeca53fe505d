"""Generation: scenes (or walked passages) × voices → prompts → a model → Expression nodes.

    from scenegraph.generation import GenerateOptions, generate
    report = generate(store, GenerateOptions(provider="template"))

Modules: ``config`` (styles, registers, tones, forms), ``plan`` (items and their keys),
``walks`` (graph context and passages), ``prompts`` (Jinja2 templates), ``journal`` (the items
of resumable runs), ``run`` (the async loop and the writer). Providers, retries, the answer
parser and the journal file are ``scenegraph.llm``'s.
"""

from .config import GenerationConfig, load_config
from .options import Estimate, Failure, GenerateOptions, GenerateProgress, GenerateReport
from .run import agenerate, generate

__all__ = [
    "Estimate",
    "Failure",
    "GenerateOptions",
    "GenerateProgress",
    "GenerateReport",
    "GenerationConfig",
    "agenerate",
    "generate",
    "load_config",
]

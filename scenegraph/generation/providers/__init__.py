"""Providers: ``openai`` (any OpenAI-compatible endpoint) and ``template`` (offline, no model)."""

from __future__ import annotations

import os

from ...errors import ConfigError
from ..options import GenerateOptions
from ..prompts import Prompts
from .base import Ask, Completion, Provider, Rejected, Retryable

__all__ = ["Ask", "Completion", "Provider", "Rejected", "Retryable", "make_provider"]


def make_provider(options: GenerateOptions, prompts: Prompts) -> Provider:
    """The provider the options name; the openai one takes its key from the environment
    (a dry run, which sends nothing, needs none)."""
    if options.provider == "template":
        from .template import TemplateProvider

        return TemplateProvider(prompts)
    from .openai_chat import OpenAIProvider

    api_key = os.environ.get(options.api_key_env, "")
    if not api_key and not options.dry_run:
        raise ConfigError(
            f"no API key: set {options.api_key_env} (or name another variable with "
            "--api-key-env); a local server without auth accepts any value"
        )
    base_url = options.base_url or os.environ.get("OPENAI_BASE_URL")
    return OpenAIProvider(
        model=options.model,
        api_key=api_key,
        key_env=options.api_key_env,
        base_url=base_url,
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        seed=options.seed,
        json_mode=options.json_mode,
        timeout_s=options.timeout_s,
    )

"""Choosing a provider: ``openai`` (any OpenAI-compatible endpoint) or ``template`` (offline)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from .base import Provider


class ProviderConfig(BaseModel):
    """Which provider answers, and how; the API key is read from the variable ``api_key_env``
    names, so a config can be logged and hashed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["openai", "template"]
    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(ge=0.0, le=2.0)
    max_tokens: int = Field(ge=1)
    seed: int | None = None
    json_mode: bool = True
    timeout_s: float = Field(gt=0.0)
    dry_run: bool = False  # nothing will be sent, so no key is needed


def make_provider(config: ProviderConfig) -> Provider:
    """The provider the config names; the openai one takes its key from the environment
    (a dry run, which sends nothing, needs none). Connects on first use, not here."""
    if config.name == "template":
        from .template import TemplateProvider

        return TemplateProvider()
    from .openai_chat import OpenAIProvider

    api_key = os.environ.get(config.api_key_env, "")
    if not api_key and not config.dry_run:
        raise ConfigError(
            f"no API key: set {config.api_key_env} (or name another variable with "
            "--api-key-env); a local server without auth accepts any value"
        )
    return OpenAIProvider(
        model=config.model,
        api_key=api_key,
        key_env=config.api_key_env,
        base_url=config.base_url or os.environ.get("OPENAI_BASE_URL"),
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=config.seed,
        json_mode=config.json_mode,
        timeout_s=config.timeout_s,
    )

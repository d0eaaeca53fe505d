"""Choosing a provider: ``openai`` (any OpenAI-compatible endpoint), ``anthropic`` (Claude's
Messages API) or ``template`` (offline)."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ConfigError
from .base import Provider

ProviderName = Literal["openai", "anthropic", "template"]

# What a provider's name implies when the options leave it unset: anthropic reads its own key
# variable and has no use for the openai default model.
PROVIDER_DEFAULTS: dict[str, dict[str, str]] = {
    "anthropic": {"api_key_env": "ANTHROPIC_API_KEY", "model": "claude-sonnet-4-5"},
}
# Where a provider's SDK looks for a gateway when no base URL is given.
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def with_provider_defaults(values: Any, name_field: str) -> Any:
    """Options ``values`` (as given, before validation) completed with the defaults of the
    provider their field ``name_field`` names, for the fields they do not set."""
    if not isinstance(values, dict):
        return values
    return {**PROVIDER_DEFAULTS.get(values.get(name_field, ""), {}), **values}


class ProviderConfig(BaseModel):
    """Which provider answers, and how; the API key is read from the variable ``api_key_env``
    names (by default the provider's own), so a config can be logged and hashed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ProviderName
    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(ge=0.0, le=2.0)
    max_tokens: int = Field(ge=1)
    seed: int | None = None
    json_mode: bool = True
    timeout_s: float = Field(gt=0.0)
    dry_run: bool = False  # nothing will be sent, so no key is needed

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, values: Any) -> Any:
        return with_provider_defaults(values, "name")


# The fields a run's options (generate's, evaluate's) share with ProviderConfig, by name.
SHARED_FIELDS = (
    "model",
    "base_url",
    "api_key_env",
    "temperature",
    "max_tokens",
    "seed",
    "json_mode",
    "timeout_s",
)


def config_of(options: Any, name: ProviderName, **more: Any) -> ProviderConfig:
    """The provider config of an options model that has the ``SHARED_FIELDS``."""
    return ProviderConfig(name=name, **{f: getattr(options, f) for f in SHARED_FIELDS}, **more)


def make_provider(config: ProviderConfig) -> Provider:
    """The provider the config names; a remote one takes its key from the environment
    (a dry run, which sends nothing, needs none). Connects on first use, not here."""
    if config.name == "template":
        from .template import TemplateProvider

        return TemplateProvider()
    api_key = os.environ.get(config.api_key_env, "")
    if not api_key and not config.dry_run:
        raise ConfigError(
            f"no API key: set {config.api_key_env} (or name another variable with "
            "--api-key-env); a local server without auth accepts any value"
        )
    settings: dict[str, Any] = {
        "model": config.model,
        "api_key": api_key,
        "key_env": config.api_key_env,
        "base_url": config.base_url or os.environ.get(BASE_URL_ENV[config.name]),
        "max_tokens": config.max_tokens,
        "json_mode": config.json_mode,
        "timeout_s": config.timeout_s,
    }
    if config.name == "anthropic":  # the Messages API takes no seed and no temperature
        from .anthropic_messages import AnthropicProvider

        return AnthropicProvider(**settings)
    from .openai_chat import OpenAIProvider

    return OpenAIProvider(**settings, temperature=config.temperature, seed=config.seed)

"""The model-call layer: providers, the retry policy, the KEYS protocol and the request journal,
shared by generation and the quality judge (neither imports the other).

    provider = make_provider(ProviderConfig(name="openai", model=..., temperature=0.0, ...))
    completion = await call_with_retries(provider, Ask(keys, messages), policy, rng)

Modules: ``base`` (the provider interface: ``Ask``, ``Completion``, ``Provider`` and its
outcomes), ``openai_chat``, ``anthropic_messages`` and ``template`` (one backend each),
``http`` (what the HTTP ones share), ``providers`` (choosing one from a ``ProviderConfig``),
``retry`` (``RetryPolicy``, ``call_with_retries``), ``concurrency`` (the adaptive level of calls
in flight), ``cost`` (prices, token counts, the spend cap), ``parse`` (the KEYS line and the
tolerant reader of answers), ``journal`` (the SQLite file beside the store and its answer
cache).
"""

from .base import Ask, Completion, Provider, Rejected, Retryable
from .providers import ProviderConfig, make_provider
from .retry import GaveUp, RetryPolicy, call_with_retries

__all__ = [
    "Ask",
    "Completion",
    "GaveUp",
    "Provider",
    "ProviderConfig",
    "Rejected",
    "Retryable",
    "RetryPolicy",
    "call_with_retries",
    "make_provider",
]

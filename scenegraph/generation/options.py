"""What one `generate` run is asked to do: the options (in) and the report (out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..llm.providers import ProviderConfig, ProviderName, config_of, with_provider_defaults

# With the default ``processes``, a run uses a process per this many requests (up to the CPUs):
# starting a worker costs about as much as a few hundred requests' worth of client CPU.
MIN_REQUESTS_PER_PROCESS = 200


class GenerateOptions(BaseModel):
    """Everything a run needs except the store and the API key (read from the environment)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Which scenes: all with content, or a Cypher query returning ids, or by archetype; capped.
    select: str | None = None
    archetypes: list[str] = []
    limit: int | None = Field(None, ge=1)
    # Which voices: names from the config (["all"] for every one); an empty list leaves it unset.
    styles: list[str] = ["all"]
    registers: list[str] = []
    tones: list[str] = []
    forms: list[str] = ["text"]
    targets: list[str] = []  # roles the text is addressed to (the corpus's `target`, e.g. человек)
    # One request per output, or several outputs per request answered as one JSON object.
    mode: Literal["many", "one"] = "many"
    per_request: int = Field(8, ge=1)
    # Context and composition.
    neighbours: int = Field(3, ge=0)
    walk: bool = False
    walks_per_scene: int = Field(1, ge=1)
    walk_length: int = Field(4, ge=2)
    restart: float = Field(0.2, ge=0.0, lt=1.0)
    seed: int | None = None  # walks, and sampling where the server supports it
    config: Path | None = None
    templates: Path | None = None
    # Provider.
    # anthropic: the key from ANTHROPIC_API_KEY and claude-sonnet-4-5 unless given (providers.py).
    provider: ProviderName = "openai"
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(0.9, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)
    json_mode: bool = True
    # Running.
    concurrency: int = Field(8, ge=1)  # the most in flight; the run adapts below it (AIMD)
    # Worker processes asking in parallel, -c shared among them; None: one per CPU (see above).
    processes: int | None = Field(None, ge=1)
    retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0.0)
    timeout_s: float = Field(60.0, gt=0.0)
    dry_run: bool = False
    expected_output_tokens: int = Field(80, ge=1)  # per output, for the dry-run estimate
    max_cost_usd: float | None = Field(None, gt=0.0)  # no request once it could pass this
    # Focus: more expressions in the cells an evaluation (`evaluate --out`) scored lowest.
    focus: Path | None = None
    focus_below: float = Field(0.5, gt=0.0, le=1.0)  # a cell's mean score under this is weak
    focus_budget: int = Field(1_000, ge=1)  # the most items a focused plan holds
    # Batch mode: the requests go through the provider's batch API (half price, within 24 h).
    batch: bool = False
    collect: bool = False  # batch mode sending nothing new: collect what earlier runs sent
    poll_s: float = Field(30.0, gt=0.0)  # seconds between looks at the batches in flight
    batch_size: int = Field(10_000, ge=1, le=50_000)  # requests per batch (both APIs' limit)

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, values: Any) -> Any:
        values = with_provider_defaults(values, "provider")
        if isinstance(values, dict) and values.get("collect"):
            values = {**values, "batch": True}
        return values

    def provider_config(self) -> ProviderConfig:
        return config_of(self, self.provider, dry_run=self.dry_run)


class Estimate(BaseModel):
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None when the config has no price for the model


class Failure(BaseModel):
    scene_ids: list[str]
    slot: str
    reason: str


class FocusCell(BaseModel):
    cell: str
    score: float
    items: int  # evaluated items behind the score


class FocusSummary(BaseModel):
    """What a focused run took from the evaluation (in the run's report)."""

    evaluation: str
    variant: str
    below: float
    cells: list[FocusCell]  # weakest first: the cells planned
    skipped: list[str]  # weak cells whose voices the generation config does not have
    trees: list[FocusCell]  # the weakest trees, whose archetypes came first
    archetypes: list[str]
    held_out: int  # scenes of the evaluation left out of the plan
    budget: int
    planned: int = 0


class GenerateReport(BaseModel):
    provider: str
    model: str
    template_hash: str
    dry_run: bool = False
    planned: int = 0  # items (one expression each) in the plan
    already_done: int = 0  # stored by an earlier run with the same key
    stale: int = 0  # stored earlier for inputs that have changed since: regenerated
    pending: int = 0  # items this run has to produce
    requests: int = 0  # requests sent (dry run: that would be sent)
    processes: int = 1  # processes that asked (--processes)
    recovered: int = 0  # answered before a crash, written now without asking again
    generated: int = 0
    failed: int = 0
    superseded: int = 0
    focus: FocusSummary | None = None  # what --focus took from the evaluation
    left: int = 0  # not asked for: the spend cap was reached (a re-run with a higher cap does them)
    batch: bool = False  # sent through a batch API: costs are at batch prices
    batches: int = 0  # batches this run submitted
    resubmitted: int = 0  # requests sent again after they expired or failed on the server's side
    cost_usd: float | None = None  # spent by this run at the config's price; None without one
    max_cost_usd: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    estimate: Estimate | None = None
    failures: list[Failure] = []  # the first few, with reasons; all are in the journal


@dataclass
class GenerateProgress:
    """What a progress callback sees; ``phase`` is 'planned' once, then 'running'."""

    phase: str
    total: int
    done: int = 0
    failed: int = 0
    retrying: int = 0
    tokens: int = 0
    stale: int = 0
    already_done: int = 0
    concurrency: int = 0  # calls allowed in flight now (adaptive, at most the ceiling -c)
    cost_usd: float | None = None  # spent so far, when the config prices the model
    batches: int = 0  # batch mode: batches in flight
    waiting: int = 0  # batch mode: requests in those batches


class BatchStatus(BaseModel):
    """One batch as the journal knows it (``generate --batch --status``)."""

    id: str
    remote_id: str | None  # the server's id; None until it confirmed creating the batch
    provider: str
    model: str
    state: str  # submitting, submitted, ended, lost
    submitted: int
    done: int
    failed: int  # refused, or expired/failed on the server's side (sent again)
    pending: int
    created_at: str

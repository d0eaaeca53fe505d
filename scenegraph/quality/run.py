"""Running the checks: embed what is new, check, write what changed, measure, report.

    from scenegraph.quality import CheckOptions, run_checks
    report = run_checks(store, CheckOptions(report_dir=Path("check"), compress="50%"))

Incremental. Each Expression's ``quality.inputs`` is a hash of what its entries depend on: its
text, form, labels and source, its scenes' content, the embedding model, the thresholds, the
judge's settings and rubric, and the checks' version. ``quality-state.json`` beside the store
holds the hash of all of them together (the dataset). When both still match, nothing is checked
again and nothing is written. Otherwise every entry is recomputed — duplicates and voice are
relative to the whole dataset, and the rest is cheap — the judge asks only about what its
journal lacks, and only the expressions whose verdicts moved are written (numbers are stored
rounded, so noise does not count as a move).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..graph.base import Store
from ..graph.batch import GraphBatch
from ..text import canonical_json, content_hash
from ..vectors import plan_embed, store_embedder, write_atomically
from .compress import compress
from .data import CheckData
from .duplicates import find_duplicates
from .judge import Case, judge, provider_for, rubric_hash
from .linkage import linkage
from .metrics import dataset_metrics
from .options import CheckOptions, JudgeOptions
from .results import (
    RULES,
    CheckReport,
    CompressionReport,
    JudgeSummary,
    RuleResult,
    RuleSummary,
    overall,
)
from .rules import check_lived, check_structure
from .voice import check_voice

CHECKS_VERSION = 1
REPORT_FILE = "report.html"
STATE_FILE = "quality-state.json"
COMPRESSED_FILE = "compressed.json"

Results = dict[str, dict[str, RuleResult]]  # expression id -> rule -> result


@dataclass(frozen=True)
class CheckProgress:
    """Where a run is: ``phase`` is embed, rules, voice, duplicates, judge, write, metrics,
    compress or report; ``done`` of ``total`` items when the phase counts any."""

    phase: str
    done: int = 0
    total: int | None = None


ProgressCallback = Callable[[CheckProgress], None]


def run_checks(
    store: Store, options: CheckOptions | None = None, progress: ProgressCallback | None = None
) -> CheckReport:
    """Check every active expression, store the verdicts, and report on the dataset."""
    options = options or CheckOptions()
    started = time.perf_counter()
    tell = progress or (lambda _: None)
    if options.judge:
        provider_for(options.judge)  # a missing key stops the run before any work
    model = _embed(store, options, tell)
    data = CheckData.load(store)
    settings = _settings(model, options)
    inputs = {e.id: _expression_inputs(e, data, settings) for e in data.expressions}
    results, judged, notes, counts = _verdicts(store, data, inputs, options, tell)
    report = _report(store, data, options, results, model, judged, notes, counts)
    report.elapsed_s = round(time.perf_counter() - started, 3)  # what the report shows
    _outputs(report, data, results, options, tell)
    report.elapsed_s = round(time.perf_counter() - started, 3)
    return report


# -- steps ----------------------------------------------------------------------------------


def _embed(store: Store, options: CheckOptions, tell: ProgressCallback) -> str:
    """Embed new and changed scenes and expressions (nothing, when nothing changed)."""
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        tell(CheckProgress("embed", done))

    plan = plan_embed(store, store_embedder(store, options.model))
    tell(CheckProgress("embed", 0, plan.pending))
    return plan.run(progress=step).model


def _verdicts(
    store: Store,
    data: CheckData,
    inputs: dict[str, str],
    options: CheckOptions,
    tell: ProgressCallback,
):
    """The stored verdicts when nothing changed, else new ones; written where they moved.
    Returns (results, judge summary, notes, counts)."""
    fingerprint = content_hash(sorted(inputs.items()))
    stored = {e.id: (e.quality or {}).get("inputs") for e in data.expressions}
    reuse = (
        not options.force
        and bool(inputs)
        and stored == inputs
        and _state(store).get("fingerprint") == fingerprint
    )
    if reuse:
        results = {e.id: _entries(e.quality) for e in data.expressions}
        judged, notes = None, ["nothing changed since the last check: the stored results stand"]
    else:
        results, judged, notes = _evaluate(store, data, options, tell)
    qualities = {
        i: {
            "version": CHECKS_VERSION,
            "inputs": inputs[i],
            **{rule: result.as_dict() for rule, result in results[i].items()},
        }
        for i in inputs
    }
    tell(CheckProgress("write"))
    counts = {
        "changed": sum(1 for i in inputs if stored[i] != inputs[i]),
        "checked": 0 if reuse else len(inputs),
        "written": _write(store, data, qualities, results),
    }
    _save_state(store, fingerprint)
    return results, judged, notes, counts


def _evaluate(
    store: Store, data: CheckData, options: CheckOptions, tell: ProgressCallback
) -> tuple[Results, JudgeSummary | None, list[str]]:
    thresholds = options.thresholds
    tell(CheckProgress("rules", 0, len(data.expressions)))
    lived = {e.id: check_lived(e, thresholds) for e in data.expressions}
    structure = {e.id: check_structure(e, data.scenes_of(e), thresholds) for e in data.expressions}
    tell(CheckProgress("voice"))
    voice, notes = check_voice(data, thresholds, options.folds, options.seed)

    def standing(row: int) -> float:
        expr_id = data.expressions[row].id
        return _mean_score([lived[expr_id], structure[expr_id], voice[expr_id]])

    tell(CheckProgress("duplicates"))
    duplicates = find_duplicates(data, thresholds, standing, options.seed)
    results = {
        e.id: {
            "lived": lived[e.id],
            "redundancy": RuleResult.combine([structure[e.id], duplicates[e.id]]),
            "voice": voice[e.id],
        }
        for e in data.expressions
    }
    judged = _judge(store, data, options, options.judge, results, tell) if options.judge else None
    return results, judged, notes


def _judge(
    store: Store,
    data: CheckData,
    options: CheckOptions,
    judge_options: JudgeOptions,
    results: Results,
    tell: ProgressCallback,
) -> JudgeSummary:
    """Judge what passed the automatic rules (the rest is not worth a model call)."""
    cases = [Case(e, data.scenes_of(e)) for e in data.expressions if overall(results[e.id])]
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        tell(CheckProgress("judge", done, len(cases)))

    tell(CheckProgress("judge", 0, len(cases)))
    verdicts, summary = judge(store, cases, judge_options, options.thresholds, step)
    for expr in data.expressions:
        results[expr.id]["judge"] = verdicts.get(
            expr.id, RuleResult.skipped("not judged: it failed an automatic rule")
        )
    return summary


def _write(store: Store, data: CheckData, qualities: dict[str, dict], results: Results) -> int:
    """Write ``quality`` and ``passed`` of the expressions whose verdicts changed."""
    batch = GraphBatch()
    for expr in data.expressions:
        passed = overall(results[expr.id])
        if expr.quality != qualities[expr.id] or expr.passed != passed:
            batch.node(
                "Expression", id=expr.id, quality=canonical_json(qualities[expr.id]), passed=passed
            )
    if len(batch):
        store.upsert(batch)
    return len(batch)


def _report(
    store: Store,
    data: CheckData,
    options: CheckOptions,
    results: Results,
    model: str,
    judged: JudgeSummary | None,
    notes: list[str],
    counts: dict[str, int],
) -> CheckReport:
    accepted = {i for i, entry in results.items() if overall(entry)}
    return CheckReport(
        store=store.uri,
        model=model,
        expressions=len(results),
        passed=len(accepted),
        failed=len(results) - len(accepted),
        **counts,
        rules=rule_summaries(results),
        linkage=linkage(data, accepted, options.thresholds),
        metrics=dataset_metrics(data, results, accepted, options.folds, options.seed),
        judge=judged,
        notes=notes,
    )


def _outputs(
    report: CheckReport,
    data: CheckData,
    results: Results,
    options: CheckOptions,
    tell: ProgressCallback,
) -> None:
    """Compression and the HTML report, as the options ask."""
    if options.compress is not None:
        tell(CheckProgress("compress"))
        report.compression = compress_accepted(data, results, options)
        if options.report_dir is not None:
            path = Path(options.report_dir) / COMPRESSED_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(report.compression.model_dump_json(indent=2), encoding="utf-8")
            report.compression.file = str(path)
    if options.report_dir is not None:
        from .report import write_report

        tell(CheckProgress("report"))
        report.report_file = str(
            write_report(Path(options.report_dir) / REPORT_FILE, report, data, results)
        )


def compress_accepted(
    data: CheckData, results: Results, options: CheckOptions
) -> CompressionReport:
    accepted = [row for row, e in enumerate(data.expressions) if overall(results[e.id])]
    budget = options.budget(len(accepted)) or 0
    return compress(
        data, accepted, budget, lambda row: _mean_score(results[data.expressions[row].id].values())
    )


def rule_summaries(results: Results) -> list[RuleSummary]:
    out = []
    for rule in RULES:
        entries = [entry[rule] for entry in results.values() if rule in entry]
        if not entries:
            continue
        failed = [r for r in entries if r.passed is False]
        out.append(
            RuleSummary(
                rule=rule,
                checked=sum(r.passed is not None for r in entries),
                passed=sum(r.passed is True for r in entries),
                failed=len(failed),
                skipped=sum(r.passed is None for r in entries),
                reasons=dict(Counter(code for r in failed for code in r.codes).most_common()),
            )
        )
    return out


# -- hashes and stored entries ----------------------------------------------------------------


def _settings(model: str, options: CheckOptions) -> str:
    """Hash of everything besides the expression that its entries depend on."""
    judge_settings = [options.judge.model_dump(), rubric_hash()] if options.judge else None
    return content_hash(
        [
            CHECKS_VERSION,
            model,
            options.thresholds.model_dump(),
            options.folds,
            options.seed,
            judge_settings,
        ]
    )


def _expression_inputs(expr, data: CheckData, settings: str) -> str:
    return content_hash(
        [
            settings,
            expr.text,
            expr.form,
            expr.style,
            expr.register,
            expr.tone,
            expr.target,
            expr.lang,
            expr.provenance.get("source"),
            [scene.content_hash() for scene in data.scenes_of(expr)],
        ]
    )


def _state(store: Store) -> dict:
    path = Path(store.data_dir) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_state(store: Store, fingerprint: str) -> None:
    """Written after the graph: a run killed in between checks again next time."""
    data = json.dumps({"version": CHECKS_VERSION, "fingerprint": fingerprint}).encode()
    write_atomically(Path(store.data_dir) / STATE_FILE, lambda out: out.write(data))


def _entries(quality: dict | None) -> dict[str, RuleResult]:
    return {
        rule: RuleResult.from_dict(entry)
        for rule, entry in (quality or {}).items()
        if rule in RULES
    }


def _mean_score(results) -> float:
    scores = [r.score for r in results if r.score is not None]
    return sum(scores) / len(scores) if scores else 0.0

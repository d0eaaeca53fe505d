"""``evaluate_export``: a model on an export's held-out split, scored on the source document's
three claims.

    from scenegraph.evaluate import EvaluateOptions, evaluate_export
    report = evaluate_export(Path("out/dataset"), EvaluateOptions(hf_model=Path("base"),
                                                                  adapter=Path("lora")))

Steps: read the export (``items``), answer every item (``run``, journaled), embed the scenes and
the outputs once, then score each claim (``speaks``, ``meaning``, ``register``) and break the
scores down per style × register × tone cell and per fractal tree.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..embedding import Embedder, default_embedder
from ..llm.base import Provider
from ..llm.journal import Journal
from ..llm.retry import policy_of
from ..quality.options import Thresholds
from ..quality.words import WORDED_FORMS
from ..vectors import scene_text
from .baselines import ReferenceProvider, reference_texts, template_texts
from .classifier import fit_classifiers
from .items import ExportData, Item, load_export
from .meaning import one_meaning
from .options import EvaluateOptions
from .register import content_register
from .results import CLAIMS, Breakdown, EvaluationReport, ItemResult, mean
from .run import Answers, Progress, answer_items
from .speaks import TRAIN_SOURCE, Space, as_expression, speaks_scenes


def evaluate_export(
    export_dir: Path, options: EvaluateOptions, progress: Progress | None = None
) -> EvaluationReport:
    """Answer the export's ``options.split`` rows with the model the options name and score
    the answers. ``progress(done, total)`` follows the answering."""
    started = time.perf_counter()
    data = load_export(
        Path(export_dir), options.split, list(options.directions), options.limit, options.dataset
    )
    provider, offline = _provider(options, data)
    journal_path = options.journal_path(Path(export_dir))
    journal = Journal(journal_path)
    try:
        answers = answer_items(
            data.items,
            provider,
            journal,
            policy_of(options),
            1 if options.kind == "huggingface" else options.concurrency,
            offline,
            progress,
            options.seed,
        )
    finally:
        journal.close()
    report = score(data, answers, options)
    report.model = _label(options, provider)
    report.journal = str(journal_path)
    report.export = str(Path(export_dir))
    report.elapsed_s = round(time.perf_counter() - started, 3)
    return report


def _provider(options: EvaluateOptions, data: ExportData) -> tuple[Provider, dict[str, str]]:
    """The provider that answers, and the offline text of each item for one that reads none."""
    if options.reference:
        return ReferenceProvider(), reference_texts(data.items)
    if options.template:
        from ..llm.template import TemplateProvider

        return TemplateProvider(), template_texts(data.items, data.scenes, data.train)
    if options.hf_model is not None:
        from ..llm.huggingface import HuggingFaceProvider

        return HuggingFaceProvider(
            options.hf_model, options.adapter, options.max_tokens, options.device
        ), {}
    from ..llm.providers import make_provider

    return make_provider(options.provider_config()), {}


def _label(options: EvaluateOptions, provider: Provider) -> str:
    if options.kind in ("reference", "template"):
        return options.kind
    if options.kind == "huggingface":
        adapter = f" + {options.adapter}" if options.adapter else ""
        return f"hf:{options.hf_model}{adapter}"
    return f"{provider.name}:{provider.model}"


def score(data: ExportData, answers: Answers, options: EvaluateOptions) -> EvaluationReport:
    """Every claim's scores over the answered items."""
    items, outputs = data.items, answers.texts
    results = {item.id: _result(item, data, answers) for item in items}
    embedder = default_embedder(options.embedding_model)
    embed = memoised(embedder)
    with_content = [s for s in data.scenes.values() if s.text or s.title or s.components]
    space = Space(
        [s.id for s in with_content],
        embed([scene_text(s) for s in with_content]),
        data.scenes,
    )
    voiced = [i for i in items if i.id in outputs and i.direction in ("forward", "transfer")]
    output_vectors = dict(zip([i.id for i in voiced], embed([outputs[i.id] for i in voiced])))
    transfers = [i for i in voiced if i.direction == "transfer"]
    source_vectors = dict(zip([i.id for i in transfers], embed([i.question for i in transfers])))
    train = _train_expressions(data.train, embed)
    thresholds = Thresholds()
    speaks, notes = speaks_scenes(
        items, outputs, train, output_vectors, space, results, thresholds, options.seed
    )
    meaning = one_meaning(items, outputs, results)
    classifiers = fit_classifiers(data.train)
    register = content_register(
        items, outputs, classifiers, output_vectors, source_vectors, results
    )
    if not classifiers:
        notes.append("no voice classifier: the train split has fewer than two styles")
    if answers.failures:
        notes.append(
            f"{len(answers.failures)} items got no answer (not scored; run again to ask them)"
        )
    scored = list(results.values())
    return EvaluationReport(
        export="",
        dataset=data.manifest.name,
        split=options.split,
        model="",
        kind=options.kind,
        embedding_model=embedder.name,
        journal="",
        items={d: sum(i.direction == d for i in items) for d in options.directions},
        answered=len(outputs),
        unanswered=len(answers.failures),
        asked=answers.asked,
        recovered=answers.recovered,
        speaks_scenes=speaks,
        one_meaning=meaning,
        content_register=register,
        by_cell=breakdown(scored, lambda r: r.cell),
        by_tree=breakdown(scored, lambda r: r.tree),
        results=scored,
        notes=notes,
    )


# Vectors already made in this process, by (model, text); emptied when it reaches MEMO_TEXTS.
_MEMO: dict[tuple[str, str], np.ndarray] = {}
MEMO_TEXTS = 200_000


def memoised(embedder: Embedder) -> Callable[[list[str]], np.ndarray]:
    """``embedder.embed`` that embeds each text once per process: an export's scenes and train
    split are the same for every model evaluated on it (several runs in one process: a
    training run's evaluations, the suite), and embedding them is most of a small run's time."""

    def embed(texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if (embedder.name, t) not in _MEMO]
        if len(_MEMO) + len(new) > MEMO_TEXTS:
            _MEMO.clear()
            new = list(dict.fromkeys(texts))
        _MEMO.update(zip([(embedder.name, t) for t in new], embedder.embed(new)))
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.vstack([_MEMO[(embedder.name, t)] for t in texts])

    return embed


def _result(item: Item, data: ExportData, answers: Answers) -> ItemResult:
    return ItemResult(
        id=item.id,
        direction=item.direction,
        scene_ids=item.scene_ids,
        tree=data.root_of.get(item.scene_ids[0], item.scene_ids[0]),
        cell=item.cell,
        form=item.form,
        expected=item.expected,
        output=answers.texts.get(item.id),
        failure=answers.failures.get(item.id),
    )


def _train_expressions(train: list[Item], embed: Callable[[list[str]], np.ndarray]):
    """The train split's worded expressions, as check's voice rule learns from them."""
    from .classifier import expression_texts

    pairs = [(t, i) for t, i in expression_texts(train) if i.form in WORDED_FORMS]
    vectors = embed([t for t, _ in pairs])
    return [
        (as_expression(item, text, TRAIN_SOURCE, f"train:{item.expression_id}"), vector)
        for (text, item), vector in zip(pairs, vectors)
    ]


def breakdown(results: list[ItemResult], key: Callable[[ItemResult], str]) -> list[Breakdown]:
    """Each claim's mean over the items of each group, groups by name."""
    groups: dict[str, list[ItemResult]] = defaultdict(list)
    for result in results:
        groups[key(result)].append(result)
    return [
        Breakdown(
            key=name,
            items=len(group),
            **{claim: mean([getattr(r, claim) for r in group]) for claim in CLAIMS},
        )
        for name, group in sorted(groups.items())
    ]

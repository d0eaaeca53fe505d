"""``generate --focus EVAL.json``: the next dataset feeds what a model did worst.

An evaluation (``scenegraph evaluate --out EVAL.json``) scores each style × register × tone cell
and each fractal tree of an export's held-out split. Focus reads it and plans, for every cell
whose mean score over the claims is below ``focus_below``, one more expression of each selected
scene in that cell: a new *variant* of the slot (named after the evaluation file, so running
the same focus again resumes rather than repeats, and a later evaluation asks for new ones).

Trees are held out: more expressions of their own scenes would only grow the test split. So the
weakest trees steer which scenes come first instead: the scenes that evoke an archetype of the
weakest trees' scenes, then the rest, and the evaluation's own held-out scenes not at all.
Items are taken scene by scene in that order, every weak cell for each, up to
``focus_budget``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError
from ..evaluate.results import CLAIMS, Breakdown, EvaluationReport
from ..graph.base import Store
from ..text import content_hash
from .config import GenerationConfig, Voice
from .options import FocusCell, FocusSummary, GenerateOptions
from .plan import Item, Slot

UNSET = "-"  # how an evaluation's cell names an unset style, register or tone
WEAK_TREES = 5  # the trees whose scenes' archetypes steer the order of scenes


class Focus:
    """The weak cells as slots, and the order (and choice) of scenes they go to."""

    def __init__(self, summary: FocusSummary, slots: list[Slot], held_out: set[str]):
        self.summary, self.slots, self.held_out = summary, slots, held_out

    def scene_ids(self, store: Store, scene_ids: list[str], per_scene: int) -> list[str]:
        """The selected scenes without the held-out ones, those evoking the weak trees'
        archetypes first (each group in id order), as many as the budget can take at
        ``per_scene`` items each."""
        kept = [sid for sid in scene_ids if sid not in self.held_out]
        if not kept:
            raise ConfigError(
                "--focus: every selected scene is held out by the evaluation (its test split); "
                "select scenes the adapter trains on"
            )
        near = store.scenes_evoking(self.summary.archetypes) if self.summary.archetypes else set()
        needed = -(-self.summary.budget // max(per_scene, 1))
        return sorted(kept, key=lambda sid: (sid not in near, sid))[:needed]

    def trim(self, items: list[Item], order: list[str]) -> list[Item]:
        """Items scene by scene in ``order``, every weak cell of each, up to the budget."""
        rank = {sid: i for i, sid in enumerate(order)}
        cell = {slot: i for i, slot in enumerate(self.slots)}
        chosen = sorted(
            items, key=lambda it: (rank.get(it.subject.scene_ids[0], len(rank)), cell[it.slot])
        )
        chosen = chosen[: self.summary.budget]
        self.summary.planned = len(chosen)
        return chosen


def read_focus(
    path: Path, store: Store, config: GenerationConfig, options: GenerateOptions
) -> Focus:
    """The focus an evaluation file gives under the options (``ConfigError`` if none)."""
    report = _read(path)
    below = options.focus_below
    weak = sorted((c for c in report.by_cell if _weak(c, below)), key=_score)
    trees = sorted((t for t in report.by_tree if _weak(t, below)), key=_score)[:WEAK_TREES]
    variant = "focus-" + content_hash(report.model_dump(mode="json"), length=8)
    slots, skipped = [], []
    for entry in weak:
        cell_slots = _slots(entry.key, config, options, variant)
        if cell_slots:
            slots += cell_slots
        else:
            skipped.append(entry.key)
    if not slots:
        detail = f" (the config lacks the voices of {', '.join(skipped)})" if skipped else ""
        raise ConfigError(f"--focus {path}: no cell scored below {below:g}{detail}")
    weak_trees = {t.key for t in trees}
    held_out = {sid for r in report.results for sid in r.scene_ids}
    tree_scenes = {sid for r in report.results if r.tree in weak_trees for sid in r.scene_ids}
    archetypes = Counter(a for scene in store.scenes(tree_scenes) for a in scene.archetypes)
    summary = FocusSummary(
        evaluation=str(path),
        variant=variant,
        below=below,
        cells=[_cell(c) for c in weak if c.key not in skipped],
        skipped=skipped,
        trees=[_cell(t) for t in trees],
        archetypes=[a for a, _ in archetypes.most_common()],
        held_out=len(held_out),
        budget=options.focus_budget,
    )
    return Focus(summary, slots, held_out)


def _read(path: Path) -> EvaluationReport:
    try:
        return EvaluationReport.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"--focus {path}: cannot read it ({exc.strerror})") from None
    except ValidationError:
        raise ConfigError(
            f"--focus {path}: not an evaluation (write one with `scenegraph evaluate … --out`)"
        ) from None


def _score(entry: Breakdown) -> float:
    """The mean of the claims the entry has a score for (1.0 when it has none)."""
    scores = [s for s in (getattr(entry, claim) for claim in CLAIMS) if s is not None]
    return sum(scores) / len(scores) if scores else 1.0


def _weak(entry: Breakdown, below: float) -> bool:
    return entry.items > 0 and _score(entry) < below


def _cell(entry: Breakdown) -> FocusCell:
    return FocusCell(cell=entry.key, score=round(_score(entry), 4), items=entry.items)


def _slots(
    cell: str, config: GenerationConfig, options: GenerateOptions, variant: str
) -> list[Slot]:
    """The slots of one cell (every form and target the options ask for), or none when the
    config has no voice of one of its names."""
    names = [part.strip() for part in cell.split("|")]
    if len(names) != 3:
        return []
    voices: list[Voice | None] = []
    for dim, name in zip(("styles", "registers", "tones"), names):
        if name == UNSET:
            voices.append(None)
            continue
        try:
            voices.append(config.pick(dim, [name])[0])
        except ConfigError:  # a voice the evaluated data has and this config does not
            return []
    forms = config.pick("forms", options.forms) or config.pick("forms", ["text"])
    targets: list[str | None] = list(options.targets) or [None]
    style, register, tone = voices
    return [
        Slot(style, register, tone, form, target, variant) for form in forms for target in targets
    ]

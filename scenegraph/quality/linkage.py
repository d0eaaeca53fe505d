"""Rule 2, *many forms, one linkage*, per scene and per hyperlexeme: 5–10 accepted outputs
across at least three forms or registers (source §6.5.2). A scene that has none, too few, or
too alike is listed; one with more than the maximum is counted (compression can trim it)."""

from __future__ import annotations

from collections import defaultdict

from ..models import Expression, Scene
from .data import CheckData
from .options import Thresholds
from .results import LinkageRow, LinkageSummary

BELOW = ("few", "narrow")


def linkage(data: CheckData, accepted: set[str], thresholds: Thresholds) -> LinkageSummary:
    """Rule 2 over every scene with content and every hyperlexeme naming one."""
    by_scene: dict[str, list[Expression]] = defaultdict(list)
    for expr in data.expressions:
        for scene_id in expr.scene_ids:
            by_scene[scene_id].append(expr)
    scenes = [s for s in data.scenes.values() if _has_content(s)]
    scene_rows = [
        _row("scene", s.id, s.title, by_scene[s.id], accepted, thresholds) for s in scenes
    ]
    named: dict[str, list[str]] = defaultdict(list)
    for scene in scenes:
        for form in scene.hyperlexemes:
            named[form].append(scene.id)
    word_rows = [
        _row(
            "hyperlexeme",
            form,
            ", ".join(ids),
            list({e.id: e for sid in ids for e in by_scene[sid]}.values()),
            accepted,
            thresholds,
        )
        for form, ids in sorted(named.items())
    ]
    below = sorted(
        (r for r in scene_rows + word_rows if r.status in BELOW),
        key=lambda r: (r.kind != "scene", r.accepted, r.id),
    )
    return LinkageSummary(
        scenes=len(scene_rows),
        scenes_ok=sum(r.status not in BELOW for r in scene_rows),
        hyperlexemes=len(word_rows),
        hyperlexemes_ok=sum(r.status not in BELOW for r in word_rows),
        below=below,
        above=sum(r.status == "many" for r in scene_rows + word_rows),
    )


def _row(
    kind: str,
    item_id: str,
    title: str | None,
    expressions: list[Expression],
    accepted: set[str],
    thresholds: Thresholds,
) -> LinkageRow:
    kept = [e for e in expressions if e.id in accepted]
    forms = sorted({e.form for e in kept})
    registers = sorted({e.register for e in kept if e.register})
    if len(kept) < thresholds.linkage_min:
        status = "few"
    elif max(len(forms), len(registers)) < thresholds.linkage_variety:
        status = "narrow"
    elif len(kept) > thresholds.linkage_max:
        status = "many"
    else:
        status = "ok"
    return LinkageRow(
        kind=kind,
        id=item_id,
        title=title,
        accepted=len(kept),
        total=len(expressions),
        forms=forms,
        registers=registers,
        status=status,
    )


def _has_content(scene: Scene) -> bool:
    """A scene known only by id (referenced, never defined) is not a scene to express yet."""
    return bool(scene.text or scene.title or scene.components)

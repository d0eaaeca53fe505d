"""The HTML report of a check run: one self-contained file (inline CSS and SVG, no scripts, no
links out), so it opens offline and can be mailed around. Corpus and model text is escaped by
the template engine; the SVG is built escaped by ``plots``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from .data import CheckData
from .plots import Point, bars, heatmap, histogram, scatter
from .results import RULE_TITLES, RULES, CheckReport, RuleResult
from .words import fold

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAP_SAMPLE = 2_000  # expressions drawn on the 2-D map at most
LIST_LIMIT = 300  # rows of the failure and linkage tables at most
NONE = "—"


def html_templates(folder: Path) -> Environment:
    """The templates of an offline HTML report: escaped, strict about missing values."""
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_report(
    path: Path, report: CheckReport, data: CheckData, results: dict[str, dict[str, RuleResult]]
) -> Path:
    """Render the report to ``path`` (folders made as needed); returns the path."""
    html = (
        html_templates(TEMPLATES)
        .get_template("report.html.j2")
        .render(
            report=report,
            titles=RULE_TITLES,
            plots=_plots(report, data, results),
            failures=_failures(data, results),
            made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            limit=LIST_LIMIT,
        )
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _plots(
    report: CheckReport, data: CheckData, results: dict[str, dict[str, RuleResult]]
) -> dict[str, Markup]:
    plots = {
        f"hist_{rule}": histogram(scores, f"{RULE_TITLES[rule]}: scores")
        for rule in RULES
        if (
            scores := [
                score
                for entry in results.values()
                if rule in entry and (score := entry[rule].score) is not None
            ]
        )
    }
    plots["coverage_register"] = _coverage(report, "register")
    if any(cell.tone for cell in report.metrics.coverage):
        plots["coverage_tone"] = _coverage(report, "tone")
    plots["recoverability"] = bars(
        report.metrics.recoverability.by_form, "scene recoverability (top-1) by form"
    )
    plots["map"] = scatter(
        _map_points(data), "scenes and expressions (PCA of embeddings), coloured by style"
    )
    return {name: Markup(svg) for name, svg in plots.items()}


def _coverage(report: CheckReport, column: str) -> str:
    counts: dict[tuple[str, str], int] = {}
    for cell in report.metrics.coverage:
        key = (cell.style or NONE, getattr(cell, column) or NONE)
        counts[key] = counts.get(key, 0) + cell.count
    styles = sorted({style for style, _ in counts}, key=fold)
    columns = sorted({value for _, value in counts}, key=lambda v: (v == NONE, fold(v)))
    return heatmap(styles, columns, counts, f"coverage of accepted: style × {column}")


def _map_points(data: CheckData) -> list[Point]:
    """Scenes and (a sample of) expressions projected on their two main axes."""
    rows = [i for i, e in enumerate(data.expressions) if data.vectors[i].any()]
    if len(rows) > MAP_SAMPLE:
        rows = sorted(np.random.default_rng(0).choice(rows, MAP_SAMPLE, replace=False).tolist())
    matrix = np.vstack([data.scene_vectors, data.vectors[rows]])
    if len(matrix) < 3:
        return []
    centred = matrix - matrix.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ axes[:2].T
    scenes = [
        Point(float(x), float(y), "", f"{sid} {_title(data, sid)}", scene=True)
        for sid, (x, y) in zip(data.scene_ids, xy[: len(data.scene_ids)])
    ]
    exprs = [
        Point(
            float(x),
            float(y),
            data.expressions[i].style or NONE,
            f"{data.expressions[i].style or NONE} · {data.expressions[i].text[:80]}",
        )
        for i, (x, y) in zip(rows, xy[len(data.scene_ids) :])
    ]
    return exprs + scenes


def _title(data: CheckData, scene_id: str) -> str:
    scene = data.scenes.get(scene_id)
    return (scene.title or scene.text or "") if scene else ""


def _failures(data: CheckData, results: dict[str, dict[str, RuleResult]]) -> list[dict]:
    """Failed expressions, the most rules failed first, with each failed rule's reason."""
    rows = []
    for expr in data.expressions:
        failed = {rule: r for rule, r in results[expr.id].items() if r.passed is False}
        if failed:
            rows.append(
                {
                    "id": expr.id,
                    "scenes": ", ".join(expr.scene_ids),
                    "form": expr.form,
                    "style": expr.style or NONE,
                    "register": expr.register or NONE,
                    "text": expr.text,
                    "rules": {
                        RULE_TITLES[k]: v.reason or ", ".join(v.codes) for k, v in failed.items()
                    },
                }
            )
    rows.sort(key=lambda row: (-len(row["rules"]), row["id"]))
    return rows

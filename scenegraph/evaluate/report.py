"""The HTML report of one or several evaluation runs side by side: one self-contained file
(inline CSS and SVG from ``quality.plots``, no scripts, no links out). Model and corpus text is
escaped by the template engine; the SVG is built escaped by ``plots``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from markupsafe import Markup

from ..errors import ConfigError
from ..quality.plots import bars, heatmap
from ..quality.report import html_templates
from .results import CLAIM_TITLES, CLAIMS, EvaluationReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
EXAMPLES = 12  # answers shown per run and direction


def read_results(paths: list[Path]) -> list[EvaluationReport]:
    """Runs saved with ``--out``, in the order given."""
    runs = []
    for path in paths:
        try:
            runs.append(EvaluationReport.model_validate_json(Path(path).read_bytes()))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{path}: not an evaluation result ({str(exc).splitlines()[0]}); pass files "
                "written by `scenegraph evaluate --out`"
            ) from None
    return runs


def write_report(path: Path, runs: list[EvaluationReport]) -> Path:
    """Render the runs to ``path`` (folders made as needed); returns the path."""
    names = run_names(runs)
    html = (
        html_templates(TEMPLATES)
        .get_template("evaluate.html.j2")
        .render(
            runs=list(zip(names, runs)),
            claims=CLAIMS,
            titles=CLAIM_TITLES,
            plots=_plots(names, runs),
            examples=EXAMPLES,
            made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def run_names(runs: list[EvaluationReport]) -> list[str]:
    """A short distinct name per run: its model, numbered where two share one."""
    names: list[str] = []
    for run in runs:
        name = run.model
        while name in names:
            name = f"{run.model} #{len(names) + 1}"
        names.append(name)
    return names


def _plots(names: list[str], runs: list[EvaluationReport]) -> dict[str, Markup]:
    plots = {
        claim: bars({name: run.claim(claim) for name, run in zip(names, runs)}, CLAIM_TITLES[claim])
        for claim in CLAIMS
    }
    for claim in CLAIMS:
        for grid in ("by_cell", "by_tree"):
            counts = {
                (row.key, name): round(100 * value)
                for name, run in zip(names, runs)
                for row in getattr(run, grid)
                if (value := getattr(row, claim)) is not None
            }
            keys = sorted({key for key, _ in counts})
            if keys:
                where = "style | register | tone" if grid == "by_cell" else "fractal tree"
                plots[f"{claim}_{grid}"] = heatmap(
                    keys, names, counts, f"{CLAIM_TITLES[claim]} (%) per {where}"
                )
    return {name: Markup(svg) for name, svg in plots.items()}

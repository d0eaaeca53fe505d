"""Plots as inline SVG strings: no plotting library, no scripts, nothing fetched — the report
opens offline in any browser. Every piece of text is escaped; hover titles carry the details."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#2f4b7c",
    "#a05195",
    "#665191",
)
OTHER = "#bab0ac"
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    group: str  # colour key (a style); scenes are drawn as black squares
    label: str  # hover text
    scene: bool = False


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="plot" '
        f'style="max-width: {int(width * 1.4)}px">'
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14" {FONT} '
        f'font-weight="600">{escape(title)}</text>{"".join(body)}</svg>'
    )


def _text(
    x: float, y: float, value: object, size: int = 11, anchor: str = "start", extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT} '
        f"{extra}>{escape(str(value))}</text>"
    )


def heatmap(
    rows: list[str], columns: list[str], counts: dict[tuple[str, str], int], title: str
) -> str:
    """A grid of counts, darker for more; empty cells stay white (a gap in coverage)."""
    cell, left, top = 34, 130, 90
    width, height = left + cell * len(columns) + 20, top + cell * len(rows) + 20
    peak = max(counts.values(), default=1) or 1
    body = [
        _text(
            left + cell * j + cell / 2,
            top - 8,
            name,
            11,
            "start",
            f'transform="rotate(-45 {left + cell * j + cell / 2:.1f} {top - 8})"',
        )
        for j, name in enumerate(columns)
    ]
    for i, row in enumerate(rows):
        body.append(_text(left - 6, top + cell * i + cell / 2 + 4, row, 11, "end"))
        for j, column in enumerate(columns):
            n = counts.get((row, column), 0)
            shade = 1 - 0.85 * (n / peak) if n else 1.0
            fill = (
                f"rgb({int(255 * shade)},{int(255 * (0.3 + 0.7 * shade))},255)" if n else "#ffffff"
            )
            x, y = left + cell * j, top + cell * i
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" '
                f'stroke="#ddd"><title>{escape(f"{row} × {column}: {n}")}</title></rect>'
            )
            if n:
                colour = "#fff" if n / peak > 0.5 else "#222"
                body.append(
                    _text(x + cell / 2, y + cell / 2 + 4, n, 10, "middle", f'fill="{colour}"')
                )
    return _svg(width, height, body, title)


def histogram(
    values: list[float], title: str, threshold: float | None = 0.5, bins: int = 20
) -> str:
    """Scores 0..1 in ``bins`` bars; the pass line drawn at ``threshold``."""
    width, height, left, bottom, top = 420, 220, 40, 30, 30
    plot_w, plot_h = width - left - 10, height - top - bottom
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, max(0, int(value * bins)))] += 1
    peak = max(counts) or 1
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#888"/>'
    ]
    bar_w = plot_w / bins
    for k, n in enumerate(counts):
        h = plot_h * n / peak
        x = left + k * bar_w
        body.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>'
            f"{escape(f'{k / bins:.2f}–{(k + 1) / bins:.2f}: {n}')}</title></rect>"
        )
    for tick in (0, 0.5, 1):
        body.append(_text(left + plot_w * tick, top + plot_h + 16, f"{tick:g}", 10, "middle"))
    body.append(_text(left - 6, top + 10, peak, 10, "end"))
    if threshold is not None:
        x = left + plot_w * threshold
        body.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
            f'stroke="{PALETTE[2]}" stroke-dasharray="4 3"><title>pass line '
            f"{threshold:g}</title></line>"
        )
    return _svg(width, height, body, f"{title} (n = {len(values)})")


def bars(values: Mapping[str, float | None], title: str) -> str:
    """Horizontal bars for shares 0..1 (e.g. recoverability by form)."""
    row, left, top = 22, 110, 30
    width, height = 420, top + row * len(values) + 10
    body = []
    for i, (name, value) in enumerate(values.items()):
        y = top + i * row
        body.append(_text(left - 6, y + 15, name, 11, "end"))
        span = (width - left - 60) * (value or 0)
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{span:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[4]}"/>'
        )
        body.append(_text(left + span + 6, y + 15, "—" if value is None else f"{value:.0%}", 11))
    return _svg(width, height, body, title)


def scatter(points: list[Point], title: str) -> str:
    """A 2-D map: expressions as dots coloured by group, scenes as black squares; a legend of
    the largest groups (the rest grey)."""
    width, height, pad, legend_w = 760, 520, 30, 170
    plot_w, plot_h = width - legend_w - 2 * pad, height - 2 * pad - 10
    groups = _top_groups([p.group for p in points if not p.scene], len(PALETTE))
    xs, ys = [p.x for p in points] or [0.0], [p.y for p in points] or [0.0]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0

    def place(p: Point) -> tuple[float, float]:
        return (
            pad + plot_w * (p.x - min(xs)) / span_x,
            pad + 20 + plot_h * (1 - (p.y - min(ys)) / span_y),
        )

    body = [
        f'<rect x="{pad - 5}" y="{pad + 15}" width="{plot_w + 10}" height="{plot_h + 10}" '
        f'fill="none" stroke="#ddd"/>'
    ]
    for p in sorted(points, key=lambda p: p.scene):  # scenes on top
        x, y = place(p)
        label = f"<title>{escape(p.label)}</title>"
        if p.scene:
            body.append(
                f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" '
                f'fill="#111">{label}</rect>'
            )
        else:
            colour = groups.get(p.group, OTHER)
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{colour}" '
                f'fill-opacity="0.8">{label}</circle>'
            )
    legend = [("scene", "#111")] + list(groups.items()) + [("other styles", OTHER)]
    for i, (name, colour) in enumerate(legend):
        y = pad + 30 + i * 18
        body.append(
            f'<rect x="{width - legend_w + 10}" y="{y - 9}" width="10" height="10" '
            f'fill="{colour}"/>'
        )
        body.append(_text(width - legend_w + 26, y, name, 11))
    return _svg(width, height, body, title)


def _top_groups(groups: list[str], size: int) -> dict[str, str]:
    counts: dict[str, int] = {}
    for group in groups:
        counts[group] = counts.get(group, 0) + 1
    top = sorted(counts, key=lambda g: (-counts[g], g))[:size]
    return {group: PALETTE[i] for i, group in enumerate(top)}

"""The job page's chart of its spider's runs around it: SVG bars, one per
run, the job's own bar marked. No database access here."""

from typing import Any

from django.utils.html import escape
from django.utils.safestring import mark_safe

from ..formatting import format_duration
from ..outcomes import badge_label
from . import Run


def runs_chart(runs: list[Run], this_number: int, figure: str, usual: float | None) -> dict[str, Any] | None:
    """Bars of `figure` ("items" or "duration") in a 100 x 40 viewBox, and the usual as a line."""
    values = [run.figure(figure) for run in runs]
    peak = max([value or 0 for value in values] + [usual or 0])
    if not runs or not peak:
        return None
    width, height = 100 / len(runs), 40.0
    unit = "" if figure == "duration" else f" {figure}"
    svg = []
    for index, (run, value) in enumerate(zip(runs, values, strict=True)):
        h = (value or 0) / peak * (height - 2)
        shown = format_duration(value) if figure == "duration" and value is not None else f"{value or 0:,}"
        this = run.number == this_number
        title = f"run {run.number}: {shown}{unit}, {badge_label(run.outcome)}{' (this run)' if this else ''}"
        svg.append(
            f'<rect class="bar-{run.outcome}{" this-run" if this else ""}" x="{round(index * width + width * 0.1, 3)}"'
            f' y="{round(height - h, 3)}" width="{round(width * 0.8, 3)}" height="{round(h, 3)}">'
            f"<title>{escape(title)}</title></rect>"
        )
    if usual is not None:
        y = round(height - usual / peak * (height - 2), 3)
        svg.append(f'<line class="usual-line" x1="0" x2="100" y1="{y}" y2="{y}"/>')
    # Written here rather than in the template, as the list's chart is
    # (chart.bars_svg): two charts of 30 runs were a fifth of the page's
    # template variables. Numbers as Python writes them, never localised;
    # outcomes are outcomes.OUTCOMES' names; the title is the only text, escaped.
    return {"svg": mark_safe("".join(svg)), "figure": figure}

"""The job page's chart of its spider's runs around it: SVG bar geometry,
one bar per run, the job's own bar marked. No database access here."""

from typing import Any

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
    bars = []
    for index, (run, value) in enumerate(zip(runs, values, strict=True)):
        h = (value or 0) / peak * (height - 2)
        shown = format_duration(value) if figure == "duration" and value is not None else f"{value or 0:,}"
        bars.append(
            {
                "x": round(index * width + width * 0.1, 3),
                "w": round(width * 0.8, 3),
                "y": round(height - h, 3),
                "h": round(h, 3),
                "badge": run.outcome,
                "this": run.number == this_number,
                "title": f"run {run.number}: {shown} {figure if figure != 'duration' else ''}, {badge_label(run.outcome)}".replace(
                    "  ", " "
                ),
            }
        )
    line = None if usual is None else round(height - usual / peak * (height - 2), 3)
    return {"bars": bars, "usual_y": line, "figure": figure}

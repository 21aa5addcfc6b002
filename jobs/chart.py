"""The job list's jobs-per-day chart: SVG bar geometry from daily figures.
Pure arithmetic on `listing.DailyFigures`; no database access here."""

import datetime

from .listing import DailyFigures
from .models import STATES, State

# Bottom to top: the common state first, so rare ones stay visible on top.
STACK_ORDER = (State.FINISHED, State.RUNNING, State.PENDING, State.DELETED)
# The share of a day's width left empty between bars.
GAP = 0.15


def chart_of(figures: DailyFigures | None) -> dict | None:
    """Bars in a 100 x 100 viewBox, one per day, stacked by state."""
    if figures is None:
        return None
    days = figures.days
    count = figures.last_day - figures.first_day + 1
    peak = max((sum(day.values()) for day in days.values()), default=0)
    width, height = 100 / count, 100.0
    empty = dict.fromkeys(STATES, 0)
    bars = []
    for index in range(count):
        day = figures.first_day + index
        values = days.get(day, empty)
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
        y = height
        parts = []
        for state in STACK_ORDER:
            if values[state] and peak:
                h = values[state] / peak * height
                y -= h
                parts.append({"state": state, "y": round(y, 3), "h": round(h, 3)})
        summary = ", ".join(f"{values[s]:,} {s}" for s in STATES if values[s]) or "no jobs"
        bars.append(
            {
                "x": round(index * width + width * GAP / 2, 3),
                "w": round(width * (1 - GAP), 3),
                "parts": parts,
                "title": f"{date:%a %Y-%m-%d}: {summary}",
                "total": sum(values.values()),
                "label": f"{date:%b %-d}" if index in (0, count // 2, count - 1) else "",
                "label_x": round(index * width + width / 2, 3),
            }
        )
    total = sum(sum(day.values()) for day in days.values())
    return {"bars": bars, "peak": peak, "days": count, "total": total}

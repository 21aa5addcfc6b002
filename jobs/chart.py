"""The job list's jobs-per-day chart: SVG bar geometry from daily figures.
Pure arithmetic on `listing.DailyFigures`; no database access here.

Finished jobs are stacked by outcome, the others by state (outcomes.badge_of),
so a day of failures shows as red on the bar."""

import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .listing import DailyFigures
from .outcomes import badge_label

# Bottom to top: clean finishes first, then the other outcomes, then live
# and deleted jobs, so rare ones stay visible on top.
STACK_ORDER = (
    "finished",
    "limit",
    "timeout",
    "other",
    "shutdown",
    "cancelled",
    "memory",
    "failed",
    "running",
    "pending",
    "deleted",
)
LEGEND_ORDER = (
    "pending",
    "running",
    *(badge for badge in STACK_ORDER if badge not in ("running", "pending", "deleted")),
    "deleted",
)
# The share of a day's width left empty between bars.
GAP = 0.15


def chart_of(figures: DailyFigures | None) -> dict | None:
    """Bars in a 100 x 100 viewBox, one per day, stacked by badge."""
    if figures is None:
        return None
    days = figures.days
    count = figures.last_day - figures.first_day + 1
    peak = max((sum(day.values()) for day in days.values()), default=0)
    width, height = 100 / count, 100.0
    shown = {badge for day in days.values() for badge, n in day.items() if n}
    order = [badge for badge in STACK_ORDER if badge in shown]
    bars = []
    for index in range(count):
        day = figures.first_day + index
        values = days.get(day, {})
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
        y = height
        parts = []
        for badge in order:
            if values.get(badge) and peak:
                h = values[badge] / peak * height
                y -= h
                parts.append({"state": badge, "y": round(y, 3), "h": round(h, 3)})
        summary = ", ".join(f"{values[b]:,} {badge_label(b)}" for b in order if values.get(b)) or "no jobs"
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
    # The legend reads like the state chips: pending, running, the outcomes, deleted.
    legend = [(badge, badge_label(badge)) for badge in sorted(order, key=LEGEND_ORDER.index)]
    return {
        "bars": bars,
        "svg": bars_svg(bars),
        "peak": peak,
        "days": count,
        "total": total,
        "legend": legend,
    }


def bars_svg(bars: list[dict]) -> SafeString:
    """The bars as SVG: a day's title, its hit area and its stacked parts.
    Written here rather than in the template: a month of bars is about a
    thousand template variables, 5 ms of each list page. Numbers go out as
    Python writes them, never localised (an SVG coordinate has a dot); the
    badges are STACK_ORDER's names; the title is the only text, escaped."""
    svg = []
    for bar in bars:
        x, w = float(bar["x"]), float(bar["w"])
        svg.append(
            f'<g><title>{escape(bar["title"])}</title><rect class="hit" x="{x}" y="0" width="{w}" height="100"/>'
        )
        for part in bar["parts"]:
            assert part["state"] in STACK_ORDER
            svg.append(
                f'<rect class="bar-{part["state"]}" x="{x}" y="{float(part["y"])}" width="{w}" height="{float(part["h"])}"/>'
            )
        svg.append("</g>")
    # Safe: numbers, known names and escaped text only.
    return mark_safe("".join(svg))

"""The spiders overview: one row per spider with its last run, recent
figures and what needs attention, from the SpiderHealth rows (jobs/health/)
and one look at the live jobs. Three queries whatever the project's size."""

import itertools
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min

from ..formatting import format_duration
from ..models import Job, Project, Spider, State
from ..outcomes import HEALTHY, badge_label
from ..timezones import DAY_MS
from . import (
    FAR_BELOW,
    LONG_FACTOR,
    MIN_RUNS,
    SILENCE_FACTOR,
    SMALLEST_USUAL,
    Run,
    Usual,
    change_ratio,
    median,
    percent_text,
    usual_of,
)

# A running job is long only this far past its usual duration as well (short spiders).
LONG_MARGIN_MS = 10 * 60_000


@dataclass(frozen=True)
class Flag:
    kind: str
    text: str
    # 3: the last run failed; 2: something is off now; 1: worth a look.
    severity: int


@dataclass
class SpiderRow:
    spider: Spider
    runs: list[Run]
    last: Run | None
    usual: Usual | None
    runs_7d: int
    finished_30d: int
    healthy_30d: int
    running: int
    pending: int
    oldest_running: int | None
    last_started: int | None
    interval: float | None
    flags: list[Flag] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        return self.healthy_30d / self.finished_30d if self.finished_30d else None

    @property
    def severity(self) -> int:
        return max((flag.severity for flag in self.flags), default=0)

    @property
    def sort_key(self) -> tuple[int, int, int, str]:
        """Rows needing attention first, the worst first; then the most recently run."""
        finished = self.last.finished if self.last and self.last.finished else 0
        return (-self.severity, -sum(flag.severity for flag in self.flags), -finished, self.spider.name)


def usual_interval(runs: list[Run]) -> float | None:
    """The median time between two consecutive run starts, from the kept runs."""
    starts = sorted(run.started for run in runs if run.started is not None)
    if len(starts) < MIN_RUNS:
        return None
    return median(later - earlier for earlier, later in itertools.pairwise(starts))


def flags_of(row: SpiderRow, now: int) -> list[Flag]:
    flags = []
    last = row.last
    if last is not None and not last.healthy:
        flags.append(Flag("failed", f"last run: {badge_label(last.outcome)}", 3))
    # The last run against the runs before it (the row's usual includes it).
    before = usual_of(row.runs[:-1][::-1]) if last is not None else None
    if last is not None and before is not None and last.healthy:
        usual_items = before.of("items")
        if (
            last.items is not None
            and usual_items is not None
            and usual_items >= SMALLEST_USUAL["items"]
            and last.items <= usual_items * FAR_BELOW
        ):
            ratio = change_ratio(last.items, usual_items)
            flags.append(Flag("items", f"items {percent_text(ratio or -1)} on the last run", 2))
    duration = row.usual.of("duration") if row.usual else None
    if row.oldest_running is not None and duration:
        elapsed = now - row.oldest_running
        if elapsed > duration * LONG_FACTOR and elapsed > duration + LONG_MARGIN_MS:
            flags.append(
                Flag(
                    "long",
                    f"running for {format_duration(elapsed)}, usually {format_duration(int(duration))}",
                    2,
                )
            )
    if row.running == 0 and row.interval and row.last_started is not None:
        silent = now - row.last_started
        if silent > row.interval * SILENCE_FACTOR:
            flags.append(
                Flag(
                    "silent",
                    f"no run for {format_duration(silent)}, usually every {format_duration(int(row.interval))}",
                    1,
                )
            )
    return flags


def overview(project: Project, *, now: int) -> list[SpiderRow]:
    """Every spider of the project, those needing attention first.

    Queries: the spiders with their health rows (one join), and the live
    jobs per spider and state (the partial index job_active_ts)."""
    spiders = list(Spider.objects.filter(project=project).select_related("health").order_by("name"))
    live: dict[tuple[int, str], dict[str, Any]] = {
        (row["spider_id"], row["state"]): dict(row)
        for row in Job.objects.filter(project=project, state__in=[State.RUNNING, State.PENDING])
        .order_by()
        .values("spider_id", "state")
        .annotate(n=Count("pk"), oldest=Min("ts"))
    }
    today = now // DAY_MS
    rows = []
    for spider in spiders:
        health = getattr(spider, "health", None)
        runs = [Run.of_list(values) for values in health.runs] if health else []
        days: dict[str, dict[str, int]] = health.days if health else {}
        finished_30d = healthy_30d = runs_7d = 0
        for day, counts in days.items():
            age = today - int(day)
            if 0 <= age < 30:
                total = sum(counts.values())
                finished_30d += total
                healthy_30d += sum(n for outcome, n in counts.items() if outcome in HEALTHY)
                if age < 7:
                    runs_7d += total
        running = live.get((spider.pk, State.RUNNING), {})
        pending = live.get((spider.pk, State.PENDING), {})
        row = SpiderRow(
            spider=spider,
            runs=runs,
            last=runs[-1] if runs else None,
            usual=usual_of(runs[::-1]),
            runs_7d=runs_7d,
            finished_30d=finished_30d,
            healthy_30d=healthy_30d,
            running=running.get("n", 0),
            pending=pending.get("n", 0),
            oldest_running=running.get("oldest"),
            last_started=health.last_started if health else None,
            interval=usual_interval(runs),
        )
        row.flags = flags_of(row, now)
        rows.append(row)
    rows.sort(key=lambda row: row.sort_key)
    return rows


def sparkline(runs: list[Run], width: float = 100.0, height: float = 24.0) -> dict[str, Any] | None:
    """Items of the runs as an SVG polyline in a width x height viewBox, and
    a dot for each run that did not go as planned."""
    if not runs:
        return None
    peak = max((run.items or 0 for run in runs), default=0) or 1
    step = width / max(len(runs) - 1, 1)
    points, dots = [], []
    for index, run in enumerate(runs):
        x = round(index * step if len(runs) > 1 else width / 2, 2)
        y = round(height - 2 - (run.items or 0) / peak * (height - 4), 2)
        points.append(f"{x},{y}")
        if not run.healthy:
            dots.append({"x": x, "y": y, "badge": run.outcome})
    last = runs[-1]
    return {
        "points": " ".join(points),
        "dots": dots,
        "last": {"x": points[-1].split(",")[0], "y": points[-1].split(",")[1], "badge": last.outcome},
        "label": f"items of the last {len(runs)} runs: " + ", ".join(f"{run.items or 0:,}" for run in runs),
    }

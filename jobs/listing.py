"""The read side of the dashboard's job list: the request parsed once, keyset
pages, per-state counts, the new-jobs count and the chart's daily figures.

A job list URL is a JobQ `/list` query plus, optionally, a keyset cursor
(`before=` / `after=` a job key). The page's own time inputs (`from`, `to` in
the user's zone, `range` presets) are turned into `startts`/`endts` here, so
every URL the page shows is also a valid API query.
"""

import datetime
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import QueryDict

from .filters import FILTER_PARAMS, JobFilter, PageJobFilter, filter_params
from .jobmeta import LIST_COLUMNS
from .keys import parse_job_key
from .models import STATES, Job, JobQuerySet, Project
from .outcomes import badge_of
from .timezones import DAY_MS, MAX_MS, MIN_MS, ms_from_local

PAGE_SIZE = 50
# Above this many matches a count says "10,000+" instead of counting on
# (the dashboard's state chips, the admin's changelist).
COUNT_CAP = 10_000
NEW_JOBS_CAP = 99
CHART_DAYS = 30

CURSOR_PARAMS = ("before", "after")
PRESETS = {
    "1h": ("Last hour", 3_600_000),
    "24h": ("24 h", DAY_MS),
    "7d": ("7 days", 7 * DAY_MS),
    "30d": ("30 days", 30 * DAY_MS),
}
LOCAL_INPUT_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
# The columns a row of the list shows (number and project: its usual, health.usual_for_rows).
ROW_COLUMNS = (*LIST_COLUMNS, "deleted_time", "number", "project_id")
# And what the database works out for a row: whether the job's cancellation
# was asked for (`cancelled_by` in its custom metadata; a running job stays
# running until its runner stops it), without reading `meta` whole.
ROW_EXPRESSIONS = {
    "cancel_requested": ExpressionWrapper(Q(meta__has_key="cancelled_by"), output_field=BooleanField()),
}


def parse_local(text: str) -> datetime.datetime | None:
    for fmt in LOCAL_INPUT_FORMATS:
        try:
            return datetime.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def canonical_query(params: QueryDict, *, now: int) -> tuple[QueryDict, list[str]]:
    """(query, errors): the job list's query string with the form-only time
    inputs (`from`, `to` in the user's zone, `range` presets) turned into
    the JobQ `startts`/`endts`, empty values and unknown parameters dropped,
    parameters in a fixed order. A canonical URL is a valid JobQ /list
    query plus an optional cursor."""
    values: dict[str, list[str]] = {}
    errors: list[str] = []
    for name in FILTER_PARAMS + CURSOR_PARAMS:
        found = [value for value in params.getlist(name) if value.strip()]
        if found:
            values[name] = found
    preset = params.get("range", "")
    if preset in PRESETS:
        values["startts"] = [str(now - PRESETS[preset][1])]
        values.pop("endts", None)
    else:
        for name, param in (("from", "startts"), ("to", "endts")):
            if name not in params:
                continue
            text = params.get(name, "").strip()
            value = parse_local(text) if text else None
            if not text:
                values.pop(param, None)
            elif value is None:
                errors.append(f"{text[:40]!r} is not a date and time (YYYY-MM-DD HH:MM).")
            else:
                values[param] = [str(ms_from_local(value))]
    query = QueryDict(mutable=True)
    for name in FILTER_PARAMS + CURSOR_PARAMS:
        if name in values:
            query.setlist(name, values[name])
    return query, errors


class Cursor:
    """The keyset cursor of ?before=<key> / ?after=<key>, looked up by key.

    `direction` is None on the first page (no cursor, or one that no longer
    points at a job of the project); `error` then says why, if anything."""

    def __init__(self, project: Project, query: QueryDict) -> None:
        self.direction: str | None = None
        self.position: tuple[int, int] | None = None
        self.error: str | None = None
        for direction in CURSOR_PARAMS:
            if direction in query:
                self.direction, text = direction, query[direction]
                break
        if self.direction is None:
            return
        try:
            key = parse_job_key(text)
        except ValueError as exc:
            self.error, self.direction = str(exc), None
            return
        self.position = Job.objects.position(project.pk, str(key))
        if self.position is None:
            self.error = f"Job {key} no longer exists; showing the newest jobs."
            self.direction = None


@dataclass
class ListRequest:
    """A job list request, parsed and validated once and handed to everything
    the page, its partials and its exports compute."""

    project: Project
    # The canonical query string: JobQ filters, then the cursor.
    query: QueryDict
    # Date-times typed in the page's own inputs that are not date-times.
    time_errors: list[str]
    jobfilter: JobFilter
    # Looked up only for a valid filter.
    cursor: Cursor | None = None
    now: int = 0

    @property
    def valid(self) -> bool:
        """The filter is valid (the time inputs may still not be)."""
        return self.cursor is not None

    @cached_property
    def errors(self) -> list[str]:
        """What is wrong with the request's filter, as the page lists it."""
        filter_errors = [
            f"{name}: {error}"
            for name, field_errors in self.jobfilter.form.errors.items()
            for error in field_errors
        ]
        return self.time_errors + filter_errors

    @property
    def messages(self) -> list[str]:
        """The errors, then why a cursor was dropped: shown above the list."""
        lost = [self.cursor.error] if self.cursor is not None and self.cursor.error else []
        return self.errors + lost

    @cached_property
    def filters(self) -> QueryDict:
        """The JobQ filter part of the query (no cursor)."""
        return filter_params(self.query)

    @property
    def cleaned(self) -> dict[str, Any]:
        return self.jobfilter.form.cleaned_data

    @property
    def first_page(self) -> bool:
        return self.cursor is None or self.cursor.direction is None


def parse_list_request(project: Project, params: QueryDict, *, now: int) -> ListRequest:
    """Canonicalise, validate the filter and look the cursor up: once per request."""
    query, time_errors = canonical_query(params, now=now)
    jobfilter = PageJobFilter(query, project=project)
    listing = ListRequest(project=project, query=query, time_errors=time_errors, jobfilter=jobfilter, now=now)
    if jobfilter.is_valid():
        listing.cursor = Cursor(project, query)
    return listing


@dataclass
class Page:
    rows: list[dict[str, Any]] = field(default_factory=list)
    # Whether pages exist on each side of this one.
    newer: bool = False
    older: bool = False


def page_of(queryset: JobQuerySet, cursor: Cursor) -> Page:
    """One page of rows around the cursor: one index walk of PAGE_SIZE + 1 rows."""
    position = cursor.position or (0, 0)  # set whenever a direction is
    if cursor.direction == "before":
        rows = list(
            queryset.before_key(*position)
            .newest_first()
            .values(*ROW_COLUMNS, **ROW_EXPRESSIONS)[: PAGE_SIZE + 1]
        )
        return Page(rows[:PAGE_SIZE], newer=True, older=len(rows) > PAGE_SIZE)
    if cursor.direction == "after":
        rows = list(
            queryset.after_key(*position)
            .order_by("ts", "id")
            .values(*ROW_COLUMNS, **ROW_EXPRESSIONS)[: PAGE_SIZE + 1]
        )
        if len(rows) > PAGE_SIZE:
            return Page(rows[:PAGE_SIZE][::-1], newer=True, older=True)
        cursor.direction = None  # reached the newest jobs: that is the first page
    rows = list(queryset.newest_first().values(*ROW_COLUMNS, **ROW_EXPRESSIONS)[: PAGE_SIZE + 1])
    return Page(rows[:PAGE_SIZE], newer=False, older=len(rows) > PAGE_SIZE)


@dataclass
class StateCounts:
    """Jobs per state for the filter without its state part. `capped`: each
    count stopped after COUNT_CAP + 1 rows (a time or tag filter is on)."""

    counts: dict[str, int]
    capped: bool

    def text(self, state: str) -> str:
        return capped_text(self.counts[state], self.capped)

    def matching(self, states: list[str]) -> dict[str, Any]:
        """The total over `states`, as the page's match count shows it."""
        total = sum(self.counts[state] for state in states)
        over = self.capped and any(self.counts[state] > COUNT_CAP for state in states)
        # Below the cap every count is exact, and so is their sum.
        return {"n": total, "over": over, "text": f"{COUNT_CAP:,}+" if over else f"{total:,}"}


def capped_text(n: int, capped: bool) -> str:
    return f"{COUNT_CAP:,}+" if capped and n > COUNT_CAP else f"{n:,}"


# The match count of a page whose counts come later, from its live refresh.
PENDING_COUNT = {"n": None, "over": False, "text": "…", "pending": True}


def exact_state_counts(jobfilter: JobFilter) -> StateCounts | None:
    """From the counters or the daily figures when they can tell
    (JobFilter.counts_by_state): a few rows of them. None otherwise."""
    exact = jobfilter.counts_by_state()
    return None if exact is None else StateCounts(exact, capped=False)


def capped_state_counts(jobfilter: JobFilter) -> StateCounts:
    """One capped count per state (each stops after COUNT_CAP + 1 rows), for
    a filter that `exact_state_counts` cannot answer."""
    queryset = jobfilter.any_state_qs
    return StateCounts(
        {state: queryset.filter(state=state).capped_count(COUNT_CAP) for state in STATES}, True
    )


def newest_ts_of(queryset: JobQuerySet) -> int | None:
    """The `ts` of the newest job of a filter: one step down an index."""
    return queryset.newest_first().values_list("ts", flat=True).first()


def new_jobs_count(queryset: JobQuerySet, project: Project, since: str, watched: list[str]) -> int:
    """How many jobs of the filter are newer than the job `since` (the newest
    one the page shows), at most NEW_JOBS_CAP + 1. Watched jobs are on the
    page already, even when they finish and move to the top."""
    if since:
        position = Job.objects.position(project.pk, since)
        if position is None:
            return 0
        queryset = queryset.after_key(*position)
    if watched:
        queryset = queryset.exclude(key__in=watched)
    return queryset.capped_count(NEW_JOBS_CAP)


@dataclass
class DailyFigures:
    """Jobs per (day, badge) over a span of days in the user's zone: what
    the chart draws. Days are whole days since the epoch in that zone; a
    badge is a finished job's outcome or another job's state (outcomes.badge_of)."""

    first_day: int
    last_day: int
    days: dict[int, dict[str, int]]


def daily_figures(jobfilter: JobFilter, newest_ts: int | None) -> DailyFigures | None:
    """CHART_DAYS UTC days of the filter ending at its `endts`, or at its
    newest job (`newest_ts`). Whole days come from the daily figures
    (DayCount, or DayTagCount for one tag); the partial days at the ends of a
    time window, and every day of a filter with several tags, from the jobs
    of those days (bounded in time: at most CHART_DAYS days of them)."""
    if newest_ts is None:
        return None
    cleaned = jobfilter.form.cleaned_data
    # Nothing of the filter is newer than its newest job: without `endts`
    # the last day is whole as far as the filter is concerned.
    end = cleaned["endts"] if cleaned.get("endts") is not None else (newest_ts // DAY_MS + 1) * DAY_MS
    # A job stored with a time that is not a date (say in microseconds)
    # must not carry the chart past the days a date can name.
    end = min(max(end, MIN_MS + 1), MAX_MS + 1)
    last_day = (end - 1) // DAY_MS
    first_day = last_day - CHART_DAYS + 1
    start = first_day * DAY_MS
    if cleaned.get("startts") is not None and cleaned["startts"] > start:
        first_day = cleaned["startts"] // DAY_MS
        start = cleaned["startts"]
    if last_day < first_day:
        return None
    days: dict[int, dict[str, int]] = {}

    def add(day: int, badge: str, n: int) -> None:
        counts = days.setdefault(day, {})
        counts[badge] = counts.get(badge, 0) + n

    jobs = jobfilter.qs.filter(ts__gte=start, ts__lt=end)
    first_whole, last_whole = -(-start // DAY_MS), end // DAY_MS - 1
    # What the jobs themselves answer: every day, or only the partial days at
    # either end, each read on its own (see JobFilter.edges).
    parts = [jobs]
    if jobfilter.answered_by_days() and first_whole <= last_whole:
        figures = jobfilter.day_figures((first_whole, last_whole)).in_states(jobfilter.states)
        for day, badge, n in figures.per_day_by_badge():
            add(day, badge, n)
        parts = []
        if start < first_whole * DAY_MS:
            parts.append(jobs.filter(ts__lt=first_whole * DAY_MS))
        if end > (last_whole + 1) * DAY_MS:
            parts.append(jobs.filter(ts__gte=(last_whole + 1) * DAY_MS))
    for part in parts:
        for day, state, reason, n in part.per_day_by_state_and_reason():
            add(day, badge_of(state, reason), n)
    return DailyFigures(first_day, last_day, days)


def export_rows(jobfilter: JobFilter) -> QuerySet[Job, dict[str, Any]]:
    """Every job of a valid filter, newest first, as list-line columns."""
    return jobfilter.qs.newest_first().values(*LIST_COLUMNS)

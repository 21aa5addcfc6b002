"""Spider health: each run against the spider's usual, and the per-spider
figures the spiders overview reads.

Two ways to know the usual, chosen by what is asked:

- The figures of a spider's recent runs are kept in its `SpiderHealth` row,
  changed in the same transaction as the jobs (`RunChanges`, collected while
  a lifecycle write or an import runs and applied at its end, like the
  counters): the newest RUNS_KEPT finished runs, finished runs per UTC day
  and outcome, and when a run last started. The overview reads one row per
  spider; an alert rule compares a run that just finished with the runs
  before it without reading any other job.
- A job on the list or its detail page is compared with the runs before it
  through a bounded walk of the `job_spider_ts` index (at most WALK_CAP
  rows per spider, all spiders of a page in one query), so old jobs,
  imported ones and filtered pages are compared exactly.

The usual of a figure is the median over the spider's previous USUAL_RUNS
finished runs that went as planned (`outcomes.HEALTHY`): a failed or
cancelled run says nothing about what a good run looks like. Fewer than
MIN_RUNS such runs: no usual yet.
"""

import bisect
import functools
import itertools
import operator
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import connection, connections
from django.db.models import Field

from ..fixedsql import column_reader, fixed_cursor
from ..jobmeta import now_ms
from ..models import Job, Project, Spider, SpiderHealth, State
from ..outcomes import HEALTHY, HEALTHY_REASONS, outcome_of
from ..timezones import DAY_MS

RUNS_KEPT = 30
USUAL_RUNS = 20
MIN_RUNS = 5
DAYS_KEPT = 31
# The most rows one index walk reads to find a job's previous runs.
WALK_CAP = 300
# A list page walks each spider's rows on the page, its usual runs and this
# many more (runs that went wrong, or that the page's filter leaves out).
LIST_SLACK = 10
# A list page's rows of a spider whose numbers are at most this far apart share a walk.
NEIGHBOURS = USUAL_RUNS + LIST_SLACK
# The figures compared with the usual, in the order hints show them.
FIGURES = ("items", "pages", "errors", "duration")
# A figure is far from usual below FAR_BELOW or above FAR_ABOVE times its
# usual; errors only count when above (fewer errors is never bad news).
FAR_BELOW = 0.5
FAR_ABOVE = 2.0
# Below these usual values a change is noise: 3 items instead of 8 is not news.
SMALLEST_USUAL = {"items": 10, "pages": 10, "errors": 0, "duration": 60_000}
# More errors than this over the usual before an error count is far above it.
ERRORS_MARGIN = 10
# A spider is silent after SILENCE_FACTOR times its usual interval between
# runs without a start; a run is long after LONG_FACTOR times its usual duration.
SILENCE_FACTOR = 2.0
LONG_FACTOR = 2.0
# The columns RunChanges reads back for the jobs it noted.
RUN_COLUMNS = (
    "id",
    "key",
    "number",
    "project_id",
    "spider_id",
    "state",
    "ts",
    "close_reason",
    "items",
    "pages",
    "errors",
    "running_time",
    "finished_time",
    "tags",
)
# Columns whose change on a finished job changes what its run says.
RUN_FIELDS = ("close_reason", "items", "pages", "errors", "running_time", "finished_time", "scrapystats")


@dataclass(slots=True)
class Run:
    """One finished run, as SpiderHealth keeps it and walks return it.

    Not frozen, and never changed once made: a list page makes up to 1,500
    of them from its walks, and a frozen dataclass took 1.5 µs to make
    where this takes 0.3 µs."""

    number: int
    started: int | None
    finished: int | None
    reason: str | None
    items: int | None
    pages: int | None
    errors: int | None
    # Worked out once: a list page asks them of the same runs thousands of times.
    healthy: bool = field(init=False, repr=False, compare=False)
    # The FIGURES, in their order, which usual_of takes medians of.
    figures: tuple[int | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.healthy = self.outcome in HEALTHY
        self.figures = _figures_of(self)

    @classmethod
    def of_list(cls, values: Sequence[Any]) -> "Run":
        return cls(*values)

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> "Run":
        return cls(
            row["number"],
            row["running_time"],
            row["finished_time"],
            row["close_reason"],
            row["items"],
            row["pages"],
            row["errors"],
        )

    @classmethod
    def of_walked(cls, values: Sequence[Any]) -> "Run":
        """The run of a walk's row: WALK_COLUMNS, in their order."""
        _, _, number, _, reason, items, pages, errors, started, finished = values[:10]
        return cls(number, started, finished, reason, items, pages, errors)

    @classmethod
    def of_job(cls, job: Job) -> "Run":
        return cls(
            job.number,
            job.running_time,
            job.finished_time,
            job.close_reason,
            job.items,
            job.pages,
            job.errors,
        )

    def as_list(self) -> list[Any]:
        return [self.number, self.started, self.finished, self.reason, self.items, self.pages, self.errors]

    @property
    def duration(self) -> int | None:
        if self.started is None or self.finished is None or self.finished < self.started:
            return None
        return self.finished - self.started

    @property
    def outcome(self) -> str:
        return outcome_of(self.reason).value

    def figure(self, name: str) -> int | None:
        return getattr(self, name)

    @property
    def order(self) -> tuple[int, int]:
        return (self.finished or 0, self.number)


_figures_of = operator.attrgetter(*FIGURES)


@dataclass(frozen=True)
class Usual:
    """The medians of a spider's previous healthy runs, and how many there were."""

    figures: dict[str, float | None]
    runs: int

    def of(self, name: str) -> float | None:
        return self.figures.get(name)


def median(values: Iterable[int | float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def usual_of(previous: Sequence[Run]) -> Usual | None:
    """The usual from runs before the one compared, newest first; None with
    fewer than MIN_RUNS healthy ones."""
    healthy = [run for run in previous if run.healthy][:USUAL_RUNS]
    if len(healthy) < MIN_RUNS:
        return None
    columns = zip(*(run.figures for run in healthy), strict=True)
    return Usual(dict(zip(FIGURES, map(median, columns), strict=True)), len(healthy))


def change_ratio(value: float | None, usual: float | None) -> float | None:
    """value / usual - 1 (e.g. -0.62), or None when either is unknown or usual is 0."""
    if value is None or usual is None or usual == 0:
        return None
    return value / usual - 1


def far_from_usual(name: str, value: float | None, usual: float | None) -> bool:
    if value is None or usual is None:
        return False
    if name == "errors":
        return value > max(usual * FAR_ABOVE, usual + ERRORS_MARGIN)
    if usual < SMALLEST_USUAL[name]:
        return False
    return value <= usual * FAR_BELOW or value >= usual * FAR_ABOVE


def percent_text(ratio: float) -> str:
    """'−62%', '+140%': a typographic minus, as people write it."""
    percent = round(ratio * 100)
    return f"−{-percent}%" if percent < 0 else f"+{percent}%"


@dataclass(frozen=True)
class Hint:
    """A figure far from its usual, as a list row shows it: "items −62%"."""

    figure: str
    # "−62%", or the value itself when the usual is 0.
    change: str
    # Worse than usual (fewer items or pages, more errors, a shorter or much longer run).
    bad: bool
    title: str


def hints_of(run: Run, usual: Usual | None) -> list[Hint]:
    """The figures of `run` far from its usual, as the list shows them ("items −62%")."""
    if usual is None:
        return []
    hints = []
    for name in FIGURES:
        value, typical = run.figure(name), usual.of(name)
        if not far_from_usual(name, value, typical):
            continue
        assert value is not None and typical is not None  # far_from_usual checked them
        ratio = change_ratio(value, typical)
        change = percent_text(ratio) if ratio is not None else _figure_text(name, value)
        bad = name == "errors" or value < typical
        title = f"{name}: {_figure_text(name, value)}, usually {_figure_text(name, typical)} (median of {usual.runs} runs)"
        hints.append(Hint(name, change, bad, title))
    return hints


def _figure_text(name: str, value: float) -> str:
    from ..formatting import format_duration

    return format_duration(int(value)) if name == "duration" else f"{round(value):,}"


# --- runs before a job: bounded walks of job_spider_ts -----------------------

# previous_runs unpacks its rows in this order.
WALK_COLUMNS = (
    "id",
    "spider_id",
    "number",
    "ts",
    "close_reason",
    "items",
    "pages",
    "errors",
    "running_time",
    "finished_time",
)


def _walk(
    project_id: int,
    spider_id: int,
    ts: int,
    job_id: int,
    columns: Sequence[str],
    cap: int,
    *,
    newer: bool = False,
) -> tuple[str, list[Any]]:
    """SQL of the finished jobs of a spider before (ts, id), newest first, at
    most `cap`: JobQuerySet.before_key down job_spider_ts; with `newer`, those
    after it, oldest first (after_key). Fixed SQL: a page walks up to 50
    spiders, and building each walk through the ORM cost more than running
    them all."""
    quote = connection.ops.quote_name
    if newer:
        bound = "(ts > %s OR (ts = %s AND id > %s)) AND ts >= %s ORDER BY ts, id"
    else:
        bound = "(ts < %s OR (ts = %s AND id < %s)) AND ts <= %s ORDER BY ts DESC, id DESC"
    sql = (
        f"SELECT {', '.join(quote(name) for name in columns)} FROM {quote(Job._meta.db_table)}"
        f" WHERE project_id = %s AND spider_id = %s AND state = %s AND {bound} LIMIT {int(cap)}"
    )
    return sql, [project_id, spider_id, State.FINISHED.value, ts, ts, job_id, ts]


def _walked(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of walks, read where the request reads jobs (a replica, for
    one). Prepared (fixed_cursor): a walk's plan is a step down an index
    whatever its values, and planning took as long as walking."""
    with fixed_cursor(connections[Job.objects.all().db]) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def previous_runs(rows: Sequence[Mapping[str, Any]]) -> dict[int, list[Run]]:
    """{job id: the finished runs of its spider before it, newest first} for
    finished rows (dicts with id, project_id, spider_id, number, ts): enough
    of them for the usual that the job's page works out (comparison_of).

    A spider's rows whose numbers lie within NEIGHBOURS of each other, as on
    an unfiltered page, share one walk from the newest of them down to
    USUAL_RUNS + LIST_SLACK runs past the oldest; a row far from the others,
    as on a filtered page (a tag on one run in fifty), gets a walk of its
    own. Numbers only guide that choice: a row whose walk ends without
    USUAL_RUNS healthy runs before it, short of the spider's first run, is
    walked again for WALK_CAP runs, as the job page does. Two queries at most.

    The list's way on SQLite; PostgreSQL works the usuals out itself
    (`_walked_usuals`), and the tests hold the two to the same answers."""
    finished = sorted(
        (row for row in rows if row["state"] == State.FINISHED),
        key=lambda row: (row["ts"], row["id"]),
        reverse=True,
    )
    chains: list[list[Mapping[str, Any]]] = []
    last_chain: dict[int, list[Mapping[str, Any]]] = {}
    for row in finished:
        chain = last_chain.get(row["spider_id"])
        if chain is not None and abs(chain[-1]["number"] - row["number"]) <= NEIGHBOURS:
            chain.append(row)
        else:
            chain = last_chain[row["spider_id"]] = [row]
            chains.append(chain)
    answer: dict[int, list[Run]] = {}
    # (rows, how many runs to walk from the first of them, that one included)
    walks = [(chain, _chain_cap(chain)) for chain in chains]
    final = False  # the walks of WALK_CAP runs, as the job page's
    while walks:
        short = []
        for (chain, cap), walked in zip(
            walks, _walks_from([(chain[0], cap) for chain, cap in walks]), strict=True
        ):
            places = [(-ts, -job_id) for job_id, _, _, ts, *_ in walked]
            runs = [Run.of_walked(found) for found in walked]
            for row in chain:
                # The runs older than the row: those after it in newest-first order.
                before = runs[bisect.bisect_right(places, (-row["ts"], -row["id"])) :]
                if len(walked) < cap or final or _has_usual_runs(before):
                    answer[row["id"]] = before
                else:
                    short.append(row)
        walks, final = [([row], WALK_CAP + 1) for row in short], True
    return answer


def _chain_cap(chain: Sequence[Mapping[str, Any]]) -> int:
    """Runs to walk for a chain of rows, newest first: the runs its numbers
    span, and enough past the oldest for its usual."""
    span = max(len(chain), abs(chain[0]["number"] - chain[-1]["number"]) + 1)
    return min(WALK_CAP + 1, span + USUAL_RUNS + LIST_SLACK)


def _has_usual_runs(runs: Iterable[Run]) -> bool:
    """Whether `runs` hold USUAL_RUNS healthy ones: all that a usual reads."""
    return sum(1 for _ in itertools.islice((run for run in runs if run.healthy), USUAL_RUNS)) == USUAL_RUNS


def _walks_from(starts: Sequence[tuple[Mapping[str, Any], int]]) -> list[list[tuple[Any, ...]]]:
    """For each (row, cap): at most `cap` finished runs of the row's spider
    from the row down, the row included, newest first, as WALK_COLUMNS
    tuples. One query; fixed SQL (building up to 50 walks through the ORM
    cost more than running them)."""
    sql, params = _union_walks(starts)
    walks: list[list[tuple[Any, ...]]] = [[] for _ in starts]
    # Each walk newest first (UNION ALL promises no order): by (walk, -ts, -id),
    # ts and id being WALK_COLUMNS' fourth and first after the walk's number.
    for found in sorted(_walked(sql, params), key=lambda f: (f[0], -f[4], -f[1])):
        walks[found[0]].append(found[1:])
    return walks


def _union_walks(starts: Sequence[tuple[Mapping[str, Any], int]]) -> tuple[str, list[Any]]:
    """The walks as one UNION ALL of a `_walk` each (SQLite, which has no LATERAL)."""
    parts, params = [], []
    for index, (row, cap) in enumerate(starts):
        # From just above the row: (ts, id + 1) keeps the row itself.
        sql, part_params = _walk(
            row["project_id"], row["spider_id"], row["ts"], row["id"] + 1, WALK_COLUMNS, cap
        )
        parts.append(f"SELECT {index} AS walk, * FROM ({sql}) AS walk{index}")
        params.extend(part_params)
    return " UNION ALL ".join(parts), params


# A run that its spider's kept runs cannot compare (KeptRuns.usual_of_run).
NOT_KEPT: Any = object()
# Distinct kept runs (of spiders and their versions) whose usuals a process keeps.
KEPT_RUNS_CACHED = 2_000


class KeptRuns:
    """A spider's kept runs (SpiderHealth.runs) and the usual of each, worked
    out once per process for each version of them: a list page compares up
    to 50 rows with the same spiders' kept runs on every load."""

    def __init__(self, values: Sequence[Sequence[Any]]) -> None:
        self.runs = [Run.of_list(run) for run in values]
        self.positions = {run.number: index for index, run in enumerate(self.runs)}
        # How many healthy runs come before each kept run.
        self.healthy_before = list(itertools.accumulate((run.healthy for run in self.runs), initial=0))
        self.healthy = [run for run in self.runs if run.healthy]
        self.usuals: dict[int, Usual | None] = {}

    def usual_of_run(self, number: int) -> Usual | None:
        """The usual of the spider's run `number`, or NOT_KEPT when the kept
        runs cannot tell: not kept, or fewer than USUAL_RUNS healthy runs
        kept before it (older ones may exist)."""
        index = self.positions.get(number)
        healthy = None if index is None else self.healthy_before[index]
        if healthy is None or healthy < USUAL_RUNS:
            return NOT_KEPT
        # Runs with the same healthy runs before them share their usual.
        if healthy not in self.usuals:
            self.usuals[healthy] = usual_of(self.healthy[healthy - 1 :: -1])
        return self.usuals[healthy]


@functools.lru_cache(maxsize=KEPT_RUNS_CACHED)
def kept_runs(text: str) -> KeptRuns:
    """The KeptRuns of a SpiderHealth.runs as stored: keyed by its text, so
    a change of the runs is a new entry and nothing needs invalidating."""
    return KeptRuns(orjson.loads(text))


def _kept_runs_texts(spider_ids: set[int]) -> dict[int, str]:
    """{spider id: its SpiderHealth.runs as stored text}, read where the
    request reads jobs. Fixed SQL, prepared: every list page reads it."""
    database = connections[SpiderHealth.objects.all().db]
    quote = database.ops.quote_name
    ids = sorted(spider_ids)
    sql = (
        f"SELECT {quote('spider_id')}, CAST({quote('runs')} AS TEXT) FROM {quote(SpiderHealth._meta.db_table)}"
        f" WHERE {quote('spider_id')} IN ({', '.join(['%s'] * len(ids))})"
    )
    with fixed_cursor(database) as cursor:
        cursor.execute(sql, ids)
        return dict(cursor.fetchall())


def usual_for_rows(rows: Sequence[Mapping[str, Any]]) -> dict[int, tuple[Run, Usual | None]]:
    """{job id: (its run, its usual)} for the finished rows of a list page.

    A row among its spider's kept runs (SpiderHealth) with USUAL_RUNS healthy
    runs kept before it, as on a first page, is compared with those: the same
    runs a walk would find. The others get their usuals from walks of
    job_spider_ts, all in one query: worked out by PostgreSQL
    (`_walked_usuals`), or from the runs on SQLite (`previous_runs`). At
    most two queries."""
    finished = [row for row in rows if row["state"] == State.FINISHED]
    if not finished:
        return {}
    kept = _kept_runs_texts({row["spider_id"] for row in finished})
    answer: dict[int, tuple[Run, Usual | None]] = {}
    rest = []
    for row in finished:
        text = kept.get(row["spider_id"])
        usual = NOT_KEPT if text is None else kept_runs(text).usual_of_run(row["number"])
        if usual is NOT_KEPT:
            rest.append(row)
        else:
            answer[row["id"]] = (Run.of_row(row), usual)
    if not rest:
        return answer
    if connections[Job.objects.all().db].vendor == "postgresql":
        usuals = _walked_usuals(rest)
    else:
        walked = previous_runs(rest)
        usuals = {row["id"]: usual_of(walked[row["id"]]) for row in rest}
    for row in rest:
        answer[row["id"]] = (Run.of_row(row), usuals[row["id"]])
    return answer


def _walked_usuals(rows: Sequence[Mapping[str, Any]]) -> dict[int, Usual | None]:
    """{job id: its usual} for finished rows, worked out by PostgreSQL: for
    each row, one LATERAL step down job_spider_ts through at most WALK_CAP
    runs before it, of which the first USUAL_RUNS healthy ones give the
    medians (`percentile_cont(0.5)` is `median`: NULLs left out, the mean of
    the middle two). The same usual as `usual_of(previous_runs(...))`, which
    SQLite runs, but one row back per job instead of 30 runs to read and
    sort in Python: 2 ms instead of 5-8 for the 50 rows of a tag's page at 10M.
    Fixed text whatever the rows, prepared."""
    database = connections[Job.objects.all().db]
    quote = database.ops.quote_name
    medians = ", ".join(
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY healthy.{name}) AS {name}" for name in FIGURES
    )
    sql = (
        f"SELECT walk.id, usual.runs, {', '.join(f'usual.{name}' for name in FIGURES)}"
        " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) AS walk(id, project_id, spider_id, ts)"
        f" CROSS JOIN LATERAL (SELECT count(*) AS runs, {medians} FROM ("
        # Run.duration: none for a run without both times, or that ended before it started.
        " SELECT before.items, before.pages, before.errors, CASE WHEN before.finished_time >= before.running_time"
        " THEN before.finished_time - before.running_time END AS duration FROM ("
        " SELECT job.close_reason, job.items, job.pages, job.errors, job.running_time, job.finished_time"
        f" FROM {quote(Job._meta.db_table)} AS job"
        " WHERE job.project_id = walk.project_id AND job.spider_id = walk.spider_id AND job.state = %s"
        " AND (job.ts < walk.ts OR (job.ts = walk.ts AND job.id < walk.id)) AND job.ts <= walk.ts"
        " ORDER BY job.ts DESC, job.id DESC LIMIT %s) AS before"
        # outcomes.is_healthy: no close reason, or one of a healthy outcome.
        " WHERE before.close_reason IS NULL OR before.close_reason = '' OR before.close_reason = ANY(%s::text[])"
        " LIMIT %s) AS healthy) AS usual"
    )
    params: list[Any] = [
        [row["id"] for row in rows],
        [row["project_id"] for row in rows],
        [row["spider_id"] for row in rows],
        [row["ts"] for row in rows],
        State.FINISHED.value,
        WALK_CAP,
        list(HEALTHY_REASONS),
        USUAL_RUNS,
    ]
    with fixed_cursor(database) as cursor:
        cursor.execute(sql, params)
        return {
            job_id: None if runs < MIN_RUNS else Usual(dict(zip(FIGURES, figures, strict=True)), runs)
            for job_id, runs, *figures in cursor.fetchall()
        }


@dataclass
class Comparison:
    """A finished job against its spider's usual: the detail page's card."""

    run: Run
    usual: Usual | None
    cohort: str
    # Every finished run before the job, newest first (the chart's older runs).
    before: list[Run] = field(default_factory=list)
    # [(figure, value, usual, ratio, far)]
    figures: list[tuple[str, int | None, float | None, float | None, bool]] = field(default_factory=list)


COHORTS = {
    "all": "all runs",
    "args": "runs with the same arguments",
    "tags": "runs with the same tags",
}


# The column that sets a job's cohort apart, and its value as compared.
COHORT_COLUMNS = {"args": "spider_args", "tags": "tags"}


def _cohort_value(column: str, value: Any) -> Any:
    return sorted(value) if column == "tags" else (value or None)


def comparison_of(job: Job, cohort: str = "all") -> Comparison:
    """The job against the median of its spider's previous runs (of the
    cohort: all runs, or those with the same spider arguments or tags): one
    walk of at most WALK_CAP rows, reading the cohort's column only when
    the cohort needs it."""
    column = COHORT_COLUMNS.get(cohort)
    columns = WALK_COLUMNS if column is None else (*WALK_COLUMNS, column)
    walked = _walked(*_walk(job.project_id, job.spider_id, job.ts, job.id, columns, WALK_CAP))
    before = [Run.of_walked(row) for row in walked]
    same = before
    if column is not None:
        field = Job._meta.get_field(column)
        assert isinstance(field, Field)  # a column of the job's own, not a relation
        read = column_reader(field, connections[Job.objects.all().db])
        mine = _cohort_value(column, getattr(job, column))
        same = [
            run
            for run, row in zip(before, walked, strict=True)
            if _cohort_value(column, read(row[-1])) == mine
        ]
    run = Run.of_job(job)
    usual = usual_of(same)
    comparison = Comparison(run, usual, cohort, before)
    for name in FIGURES:
        value, typical = run.figure(name), usual.of(name) if usual else None
        comparison.figures.append(
            (name, value, typical, change_ratio(value, typical), far_from_usual(name, value, typical))
        )
    return comparison


def runs_around(job: Job, before: Sequence[Run], count: int = RUNS_KEPT) -> tuple[list[Run], bool]:
    """The spider's finished runs around `job` for its chart, oldest first:
    the newest `count` when the job is among them, else the runs just before
    it and the job itself. `before` are the runs before it, newest first
    (Comparison.before). Returns (runs, whether newer runs are left out)."""
    walk = _walk(job.project_id, job.spider_id, job.ts, job.id, WALK_COLUMNS, count, newer=True)
    newer = [Run.of_walked(row) for row in _walked(*walk)]
    shown_newer = newer if len(newer) < count else []
    older = list(before[: count - 1 - len(shown_newer)])
    runs = [*reversed(older), Run.of_job(job), *shown_newer]
    return runs, len(shown_newer) < len(newer)


# --- keeping SpiderHealth up to date ------------------------------------------

# The close reason of a job before a change that did not load it: unchanged.
_UNCHANGED = object()


@dataclass
class _Note:
    old_state: str | None
    old_reason: Any
    old_finished: int | None
    # The job's run just ended (pending or running -> finished): alerts look at it.
    ended: bool


class RunChanges:
    """Collects changes to jobs that matter for spider health while a write
    runs, then applies them at once in the same transaction (`apply`).

    `lifecycle` notes every row it changes (`noted`) and every job it creates
    (`added`); `alerts=False` (imports) updates the figures without raising
    alerts: loading old jobs is not a run ending now.
    """

    def __init__(self, *, alerts: bool = True) -> None:
        self.alerts = alerts
        # Jobs that finished, changed while finished, or stopped being finished.
        self.notes: dict[int, _Note] = {}
        # {spider id: (project id, the latest start)}: runs that started.
        self.started: dict[int, tuple[int, int]] = {}

    def __bool__(self) -> bool:
        return bool(self.notes or self.started)

    def _started(self, row: Mapping[str, Any]) -> None:
        when = row.get("running_time")
        if when is None:
            return
        known = self.started.get(row["spider_id"])
        if known is None or known[1] < when:
            self.started[row["spider_id"]] = (row["project_id"], when)

    def noted(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """A job row changed: `before` and `after` are its columns (at least
        id, state and the times) before and after the change."""
        old, new = before["state"], after["state"]
        touched = any(before.get(name, _UNCHANGED) != after.get(name, _UNCHANGED) for name in RUN_FIELDS)
        if new == State.RUNNING and old != State.RUNNING:
            self._started(after)
        relevant = (new == State.FINISHED and (old != State.FINISHED or touched)) or (
            old == State.FINISHED and new != State.FINISHED
        )
        if relevant and after["id"] not in self.notes:
            self.notes[after["id"]] = _Note(
                old,
                before.get("close_reason", _UNCHANGED),
                before.get("finished_time"),
                ended=old in (State.PENDING, State.RUNNING) and new == State.FINISHED,
            )

    def added(self, job_id: int, state: str) -> None:
        """A new job, created in `state` (pushed or imported)."""
        if state in (State.RUNNING, State.FINISHED) and job_id not in self.notes:
            # Read back by `apply`, which also records its start.
            self.notes[job_id] = _Note(None, None, None, ended=False)

    def apply(self, *, now: int | None = None, rows: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        """Update the SpiderHealth rows of the noted jobs' spiders, then hand
        the runs that just ended to the alert rules. Call inside the write's
        transaction, after the jobs are written. `rows`: {job id: its
        RUN_COLUMNS as written}, when the writer has them (else read back)."""
        if self.started:
            record_starts(self.started)
            self.started = {}
        if not self.notes:
            return
        now = now or now_ms()
        ids = sorted(self.notes)
        if rows is not None:
            written = [dict(rows[job_id]) for job_id in ids]
        else:
            written = []
            for start in range(0, len(ids), 1000):
                written.extend(Job.objects.filter(pk__in=ids[start : start + 1000]).values(*RUN_COLUMNS))
        ended = update_spider_health(written, self.notes, now)
        self.notes.clear()
        if self.alerts and ended:
            from ..alerts.rules import runs_ended

            runs_ended(ended, now=now)


def _count_day(
    days: dict[str, dict[str, int]], finished: int | None, reason: str | None, change: int, today: int
) -> None:
    if finished is None:
        return
    day = finished // DAY_MS
    if day <= today - DAYS_KEPT or day > today + 1:
        return
    counts = days.setdefault(str(day), {})
    outcome = outcome_of(reason).value
    counts[outcome] = counts.get(outcome, 0) + change
    if counts[outcome] <= 0:
        del counts[outcome]
        if not counts:
            del days[str(day)]


def record_starts(started: Mapping[int, tuple[int, int]]) -> None:
    """Raise `last_started` of {spider id: (project id, start)} to the given
    starts: one upsert that creates missing rows and never lowers a time."""
    table = connection.ops.quote_name(SpiderHealth._meta.db_table)
    rows = sorted(started.items())
    values = ", ".join(["(%s, %s, '[]', '{}', %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (spider_id, project_id, runs, days, last_started) VALUES {values} "
            "ON CONFLICT (spider_id) DO UPDATE SET last_started = CASE "
            f"WHEN {table}.last_started IS NULL OR {table}.last_started < excluded.last_started "
            f"THEN excluded.last_started ELSE {table}.last_started END",
            [value for spider_id, (project_id, when) in rows for value in (spider_id, project_id, when)],
        )


def _health_rows(spiders: Mapping[int, int]) -> dict[int, SpiderHealth]:
    """The SpiderHealth rows of {spider id: project id}, locked in spider
    order (two writers lock them in the same order), created if missing."""

    def locked() -> dict[int, SpiderHealth]:
        rows = SpiderHealth.objects.filter(spider_id__in=sorted(spiders)).order_by("spider_id")
        return {health.spider_id: health for health in rows.select_for_update(no_key=True)}

    found = locked()
    if len(found) < len(spiders):
        SpiderHealth.objects.bulk_create(
            [SpiderHealth(spider_id=spider_id, project_id=project) for spider_id, project in spiders.items()],
            ignore_conflicts=True,
        )
        found = locked()
    return found


@dataclass(frozen=True)
class EndedRun:
    """A run that just ended, with the usual of the runs before it: what alert rules look at."""

    row: dict[str, Any]
    run: Run
    usual: Usual | None


def update_spider_health(
    rows: Sequence[dict[str, Any]], notes: Mapping[int, _Note], now: int
) -> list[EndedRun]:
    """Fold changed jobs (`rows`, as they are now) into their spiders'
    SpiderHealth rows; returns the runs that just ended."""
    today = now // DAY_MS
    by_spider: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_spider[row["spider_id"]].append(row)
    healths = _health_rows({spider_id: group[0]["project_id"] for spider_id, group in by_spider.items()})
    ended: list[EndedRun] = []
    for spider_id, group in sorted(by_spider.items()):
        health = healths[spider_id]
        runs = sorted((Run.of_list(values) for values in health.runs), key=lambda r: r.order)
        days: dict[str, dict[str, int]] = health.days or {}
        lost = False
        for row in sorted(group, key=lambda row: (row["finished_time"] or 0, row["number"])):
            note = notes[row["id"]]
            if note.old_state == State.FINISHED:
                reason = row["close_reason"] if note.old_reason is _UNCHANGED else note.old_reason
                _count_day(days, note.old_finished, reason, -1, today)
                kept = [run for run in runs if run.number != row["number"]]
                lost = lost or (len(kept) < len(runs) and row["state"] != State.FINISHED)
                runs = kept
            if row["state"] == State.FINISHED:
                run = Run.of_row(row)
                if note.ended:
                    before = [other for other in runs if other.order < run.order]
                    ended.append(EndedRun(row, run, usual_of(before[::-1])))
                # `runs` stays sorted: insert in place (an import folds
                # thousands of runs into one spider per batch).
                bisect.insort(runs, run, key=lambda r: r.order)
                if len(runs) > RUNS_KEPT:
                    del runs[: len(runs) - RUNS_KEPT]
                _count_day(days, row["finished_time"], row["close_reason"], 1, today)
            started = row["running_time"]
            if started is not None and row["state"] != State.PENDING and (health.last_started or 0) < started:
                health.last_started = started
        if lost and len(runs) < RUNS_KEPT:
            runs = newest_runs(health.project_id, spider_id)
        health.runs = [run.as_list() for run in runs]
        health.days = {day: counts for day, counts in days.items() if int(day) > today - DAYS_KEPT}
    _save_healths(healths.values())
    return ended


def _save_healths(healths: Iterable[SpiderHealth]) -> None:
    """Write the runs, days and last start of SpiderHealth rows: one UPDATE
    sent many times (pipelined on PostgreSQL). bulk_update's CASE over 50
    spiders' JSON took a third of a second for each page a mirror writes."""
    fields = [SpiderHealth._meta.get_field(name) for name in ("runs", "days", "last_started")]
    table = connection.ops.quote_name(SpiderHealth._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(field.name)} = %s" for field in fields)
    rows = [
        [
            *(field.get_db_prep_save(getattr(health, field.name), connection) for field in fields),  # type: ignore[union-attr]
            health.spider_id,
        ]
        for health in sorted(healths, key=lambda health: health.spider_id)
    ]
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE spider_id = %s", rows)


def newest_runs(project_id: int, spider_id: int) -> list[Run]:
    """The spider's newest RUNS_KEPT finished runs, oldest first: one walk of job_spider_ts."""
    found = (
        Job.objects.filter(project_id=project_id, spider_id=spider_id, state=State.FINISHED)
        .newest_first()
        .values(*WALK_COLUMNS)[:RUNS_KEPT]
    )
    return sorted((Run.of_row(row) for row in found), key=lambda run: run.order)


def runs_imported(changes: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]]) -> None:
    """The importer's hook, once per batch inside its transaction: each pair
    is (the job's columns before, or None for a new job; its columns after,
    with its `id`: every RUN_COLUMNS of a new job, those that changed of
    another). Keeps SpiderHealth right; raises no alerts."""
    runs = RunChanges(alerts=False)
    written: dict[int, dict[str, Any]] = {}
    for before, after in changes:
        row = after if before is None else {**before, **after}
        if before is None:
            runs.added(after["id"], after["state"])
        else:
            runs.noted({**before, "id": after["id"]}, row)
        written[after["id"]] = {name: row[name] for name in RUN_COLUMNS}
    # The batch's rows as written: nothing to read back.
    runs.apply(rows=written)


def rebuild(project: Project | None = None, *, now: int | None = None, missing_only: bool = False) -> int:
    """Recompute every SpiderHealth row (of one project; or only the missing
    ones) from the jobs: three bounded queries per spider. Returns how many
    spiders were rebuilt."""
    now = now or now_ms()
    today = now // DAY_MS
    spiders = Spider.objects.all() if project is None else Spider.objects.filter(project=project)
    if missing_only:
        spiders = spiders.filter(health__isnull=True)
    rebuilt = 0
    for spider in spiders.order_by("pk").iterator():
        days: dict[str, dict[str, int]] = {}
        since = (today - DAYS_KEPT + 1) * DAY_MS
        recent = (
            Job.objects.filter(
                project_id=spider.project_id, spider=spider, state=State.FINISHED, ts__gte=since
            )
            .values_list("finished_time", "close_reason")
            .order_by()
        )
        for finished, reason in recent.iterator(chunk_size=5000):
            _count_day(days, finished, reason, 1, today)
        last_started = (
            Job.objects.filter(project_id=spider.project_id, spider=spider, running_time__isnull=False)
            .exclude(state=State.PENDING)
            .newest_first()
            .values_list("running_time", flat=True)[:RUNS_KEPT]
        )
        SpiderHealth.objects.update_or_create(
            spider=spider,
            defaults={
                "project_id": spider.project_id,
                "runs": [run.as_list() for run in newest_runs(spider.project_id, spider.pk)],
                "days": days,
                "last_started": max(
                    (started for started in last_started if started is not None), default=None
                ),
            },
        )
        rebuilt += 1
    return rebuilt

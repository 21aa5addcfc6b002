"""Exact job counters, kept in the application in the same transaction as
every write that creates, deletes or changes jobs.

Four tables, all keyed by project and spider:

- JobCount (state): `count` with spider and state filters, the state chips;
- TagCount (state, tag): `count` with one `has_tag` or one `lacks_tag`;
- DayCount (state, outcome, UTC day of `ts`): `count` over a time window and
  the dashboard's chart, a day at a time;
- DayTagCount (DayCount's keys and a tag): the same with one tag filter.

A write either collects its changes row by row in a `CountChanges` (the
lifecycle functions: they hold every row before and after anyway) and
applies them at once, or, for a set of jobs changed in SQL, calls
`remove_from_counters` on those jobs before the change and
`add_to_counters` after it, in the same transaction. An upsert that adds to
the stored number works on PostgreSQL and SQLite alike; row-level triggers
were 10-30x slower on bulk writes (docs/performance.md). `rebuild_counters`
recomputes all of them from the jobs table.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import batched
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Model, QuerySet

from .models import DayCount, DayTagCount, Job, JobCount, State, TagCount
from .outcomes import KNOWN_REASONS, OUTCOME_OF_REASON, badge_of
from .timezones import DAY_MS

# (project_id, spider_id, state): one JobCount row.
CountKey = tuple[int, int, str]
# (project_id, spider_id, state, tag): one TagCount row.
TagKey = tuple[int, int, str, str]
# (project_id, spider_id, state, outcome, day): one DayCount row.
DayKey = tuple[int, int, str, str, int]
# (project_id, tag, day, spider_id, state, outcome): one DayTagCount row.
DayTagKey = tuple[int, str, int, int, str, str]

# Each counter table: its model and the columns of its key, in the order of
# its unique constraint (the upserts' conflict target).
TABLES: tuple[tuple[type[Model], tuple[str, ...]], ...] = (
    (JobCount, ("project_id", "spider_id", "state")),
    (TagCount, ("project_id", "tag", "spider_id", "state")),
    (DayCount, ("project_id", "spider_id", "state", "outcome", "day")),
    (DayTagCount, ("project_id", "tag", "day", "spider_id", "state", "outcome")),
)


# The PostgreSQL array type of each counter column, for the upserts' unnest.
_ARRAY_TYPES = {
    "project_id": "bigint[]",
    "spider_id": "bigint[]",
    "state": "text[]",
    "tag": "text[]",
    "outcome": "text[]",
    "day": "bigint[]",
    "n": "bigint[]",
}


def _upsert(model: type[Model], columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Add each row's last value (n) to the counter of its key (the other values).

    Rows are written in key order so concurrent writers lock them in the same
    order and cannot deadlock each other.
    """
    rows = sorted(row for row in rows if row[-1])
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    upsert = f"ON CONFLICT ({names}) DO UPDATE SET n = {table}.n + excluded.n"
    if connection.vendor == "postgresql":
        # One array per column: the statement's text is the same whatever the
        # number of rows, where thousands of placeholders took psycopg longer
        # to parse than PostgreSQL to run (an import's batch).
        types = [_ARRAY_TYPES[column] for column in (*columns, "n")]
        arrays = ", ".join(f"%s::{array_type}" for array_type in types)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({names}, n) SELECT * FROM unnest({arrays}) {upsert}",
                [list(values) for values in zip(*rows, strict=True)],
            )
        return
    placeholders = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    with connection.cursor() as cursor:
        for chunk in batched(rows, 500):
            cursor.execute(
                f"INSERT INTO {table} ({names}, n) VALUES {', '.join([placeholders] * len(chunk))} {upsert}",
                [value for row in chunk for value in row],
            )


def adjust_counts(deltas: Mapping[CountKey, int]) -> None:
    """Add `deltas` ({(project_id, spider_id, state): change}) to JobCount only."""
    _upsert(JobCount, TABLES[0][1], [(*key, change) for key, change in deltas.items()])


def day_of(ts: int) -> int:
    """The UTC day of a time in ms: whole days since the epoch, rounded down."""
    return ts // DAY_MS


class CountChanges:
    """Collects counter changes while a write runs, then applies them at once.

    A row is a mapping with at least project_id, spider_id, state, close_reason,
    ts and tags: what the lifecycle's edit engine loads for every job.
    """

    def __init__(self) -> None:
        self.states: Counter[CountKey] = Counter()
        self.tags: Counter[TagKey] = Counter()
        self.days: Counter[DayKey] = Counter()
        self.tag_days: Counter[DayTagKey] = Counter()

    def _note(self, row: Mapping[str, Any], change: int) -> None:
        project_id, spider_id, state = row["project_id"], row["spider_id"], row["state"]
        self.states[(project_id, spider_id, state)] += change
        outcome, day = badge_of(state, row["close_reason"]), day_of(row["ts"])
        self.days[(project_id, spider_id, state, outcome, day)] += change
        for tag in set(row["tags"] or ()):
            self.tags[(project_id, tag, spider_id, state)] += change
            self.tag_days[(project_id, tag, day, spider_id, state, outcome)] += change

    def added(self, row: Mapping[str, Any]) -> None:
        self._note(row, 1)

    def removed(self, row: Mapping[str, Any]) -> None:
        self._note(row, -1)

    def changed(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        self._note(before, -1)
        self._note(after, 1)

    def apply(self) -> None:
        counters: tuple[Counter[Any], ...] = (self.states, self.tags, self.days, self.tag_days)
        for (model, columns), counter in zip(TABLES, counters, strict=True):
            _upsert(model, columns, [(*key, change) for key, change in counter.items()])
            counter.clear()


def row_of(job: Job) -> dict[str, Any]:
    """The columns CountChanges reads, of a Job instance."""
    return {
        "project_id": job.project_id,
        "spider_id": job.spider_id,
        "state": job.state,
        "close_reason": job.close_reason,
        "ts": job.ts,
        "tags": job.tags,
    }


# --- set-based: counters adjusted for a set of jobs in SQL ---------------------


def _outcome_sql() -> str:
    """outcomes.badge_of in SQL, for the `j` alias of the jobs table."""
    quote = connection.ops.quote_name
    whens = [
        f"WHEN j.close_reason = '{reason}' THEN '{OUTCOME_OF_REASON[reason].value}'"
        for reason in KNOWN_REASONS
    ]
    # Reasons and outcomes are our own constants (no quotes in them): safe to inline.
    assert all("'" not in reason for reason in KNOWN_REASONS)
    return (
        f"CASE WHEN j.{quote('state')} <> '{State.FINISHED}' THEN j.{quote('state')} "
        "WHEN j.close_reason IS NULL OR j.close_reason = '' THEN 'finished' "
        f"{' '.join(whens)} ELSE 'other' END"
    )


def _day_sql() -> str:
    """day_of in SQL: `/` truncates towards zero on both databases, so a
    time before 1970 that is not a midnight takes the day before. No
    intermediate value leaves the range of ts (any 64-bit integer)."""
    # %% : a literal % in SQL run with parameters.
    return f"(j.ts / {DAY_MS} - CASE WHEN j.ts %% {DAY_MS} < 0 THEN 1 ELSE 0 END)"


def _adjust_from_jobs(
    where: str, params: Sequence[Any], sign: int, tables: Sequence[type[Model]] | None = None
) -> None:
    """Add `sign` x the jobs matching `where` (SQL on the alias `j` of the jobs
    table) to every counter (or to those of `tables`): one INSERT … SELECT …
    GROUP BY per table."""
    jobs = connection.ops.quote_name(Job._meta.db_table)
    if connection.vendor == "postgresql":
        tag_source, tag = f"{jobs} j CROSS JOIN LATERAL unnest(j.tags) AS t(tag)", "t.tag"
    else:
        tag_source, tag = f"{jobs} j, json_each(j.tags) AS t", "t.value"
    selects = (
        ("j.project_id, j.spider_id, j.state", f"{jobs} j"),
        (f"j.project_id, {tag}, j.spider_id, j.state", tag_source),
        (f"j.project_id, j.spider_id, j.state, {_outcome_sql()}, {_day_sql()}", f"{jobs} j"),
        (f"j.project_id, {tag}, {_day_sql()}, j.spider_id, j.state, {_outcome_sql()}", tag_source),
    )
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for (model, columns), (keys, source) in zip(TABLES, selects, strict=True):
            if tables is not None and model not in tables:
                continue
            table = quote(model._meta.db_table)
            names = ", ".join(quote(column) for column in columns)
            positions = ", ".join(str(i) for i in range(1, len(columns) + 1))
            # SQLite needs the WHERE to tell an upsert's ON CONFLICT from a join's ON.
            cursor.execute(
                f"INSERT INTO {table} ({names}, n) SELECT {keys}, {sign} * COUNT(*) FROM {source} "
                f"WHERE {where} GROUP BY {positions} ORDER BY {positions} "
                f"ON CONFLICT ({names}) DO UPDATE SET n = {table}.n + excluded.n",
                list(params),
            )


def _where_of(jobs: "QuerySet[Job, Any]") -> tuple[str, Sequence[Any]] | None:
    """The SQL condition on `j` selecting the jobs of `jobs`; None when it selects none."""
    try:
        ids, params = jobs.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # e.g. pk__in=[]
        return None
    return f"j.id IN ({ids})", params


def add_to_counters(jobs: "QuerySet[Job, Any]") -> None:
    """Count the jobs of `jobs` in every counter, in SQL: call it right after
    creating them or changing them (state, spider, tags, ts, close reason),
    in the same transaction. For bulk writes (imports): a handful of
    statements whatever the number of jobs."""
    where = _where_of(jobs)
    if where is not None:
        _adjust_from_jobs(*where, 1)


def remove_from_counters(jobs: "QuerySet[Job, Any]") -> None:
    """Uncount the jobs of `jobs` from every counter, in SQL: call it right
    before deleting or changing them, in the same transaction (lock them
    first, or be the only writer, so that what is uncounted is what changes)."""
    where = _where_of(jobs)
    if where is not None:
        _adjust_from_jobs(*where, -1)


def rebuild_counters(tables: Sequence[type[Model]] | None = None, *, project_id: int | None = None) -> None:
    """Recompute every counter (or those of `tables`: a migration names the
    ones that exist at its point) from the jobs table, in one transaction:
    after a restore, or after jobs were written without the counters (bench
    data). With `project_id`, that project's counters only: the others' are
    left as they are, and only its jobs are read."""
    tables = [model for model, _ in TABLES if tables is None or model in tables]
    quote = connection.ops.quote_name
    if project_id is None:
        counters_where, jobs_where, params = "1 = 1", "1 = 1", []
    else:
        counters_where, jobs_where, params = "project_id = %s", "j.project_id = %s", [project_id]
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Writers wait until the counters are rebuilt (readers do
                # not), so none of their changes falls between the count and
                # its commit. SQLite runs one writer at a time anyway.
                cursor.execute(f"LOCK TABLE {quote(Job._meta.db_table)} IN SHARE MODE")
            for model in tables:
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE {counters_where}", params)
        _adjust_from_jobs(jobs_where, params, 1, tables)

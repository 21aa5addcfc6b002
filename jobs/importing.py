"""Loading jobs from JSON lines: the work behind `import_jobs`, also used by
the demo data and by mirroring another JobQ.

Each line is a job's metadata as GET /jobs/<key> answers it, plus its
`key` (and optionally `ts`). Jobs are upserted by key: loading the same
lines twice changes nothing. Lines are written in batches, one transaction
each; a bad line stops the import, and nothing of its batch is written.

A batch locks the jobs it finds already stored (in id order, as lifecycle
does) before writing, and moves every counter from those locked rows, so an
API update or bulk action running at the same time is either counted from
or waits. On PostgreSQL a batch of new keys is one COPY into the jobs
table; any other batch is COPYed into a temporary table and written with one
UPDATE and one INSERT. SQLite uses executemany.

On PostgreSQL the next batch is read and checked while PostgreSQL writes the
current one's rows (`import_lines`): an error in it is raised once the
current batch is committed, as if it had been read afterwards.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from psycopg import Copy
from psycopg.copy import QueuedLibpqWriter
from psycopg.errors import UniqueViolation

from .counts import CountChanges
from .health import runs_imported
from .jobmeta import (
    METADATA_COLUMNS,
    TIME_FIELDS,
    MetadataError,
    clean_spider_name,
    clean_state,
    clean_time,
    loads_strict,
    split_metadata,
    summary_figures,
)
from .keys import JobKey, parse_job_key
from .lifecycle import CHUNK_SIZE, remember_tags
from .models import Job, Project, Spider

# Lines per transaction. Each batch pays fixed costs (its spiders' rows and
# health, the counters' upserts, a commit that checks its foreign keys):
# 5,000 loaded 20,000 jobs about 30% faster than 1,000 at 10M jobs, and
# holds a pushed spider's row for under a second.
BATCH_SIZE = 5000
# Columns an import writes (all but the identity, which a key fixes).
WRITTEN_COLUMNS = [
    column for column in METADATA_COLUMNS if column not in ("id", "key", "project_id", "spider_id")
]
# Columns a batch stores besides a job's identity (key, project, spider).
STORED_COLUMNS = ["number", *WRITTEN_COLUMNS]


class ImportLineError(ValueError):
    def __init__(self, line_number: int, message: str) -> None:
        super().__init__(f"line {line_number}: {message}")
        self.line_number = line_number
        self.message = message


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    projects: set[int] = field(default_factory=set)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return (
            f"{self.total} jobs read: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, in {len(self.projects)} project(s)."
        )


@dataclass
class ParsedJob:
    line_number: int
    key: JobKey
    spider_name: str
    columns: dict[str, Any]


def parse_line(text: str, line_number: int) -> ParsedJob:
    """A ParsedJob of one line, or ImportLineError naming what is wrong."""
    try:
        data = loads_strict(text)
    except ValueError as exc:
        raise ImportLineError(line_number, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ImportLineError(line_number, "a line must be a JSON object")
    try:
        key = parse_job_key(data.get("key", ""))
        if "project" in data and data["project"] != key.project_id:
            raise MetadataError("project", f"project {data['project']!r} does not match the key {key}.")
        spider_name = clean_spider_name(data.get("spider"))
        if "state" not in data:
            raise MetadataError("state", "state is missing.")
        clean_state(data["state"])
        # ts is the job's position in lists, not metadata.
        ts = data.pop("ts", None)
        columns, custom = split_metadata(data)
        if ts is None:
            ts = columns.get(f"{columns['state']}_time")
        if ts is None:
            times = [columns[name] for name in TIME_FIELDS if columns.get(name) is not None]
            ts = max(times) if times else None
        if ts is None:
            raise MetadataError("ts", f"ts is missing and the job has no {columns['state']}_time.")
        clean_time("ts", ts, nullable=False)
    except ValueError as exc:  # MetadataError and key errors
        raise ImportLineError(line_number, str(exc)) from None
    full = dict.fromkeys(WRITTEN_COLUMNS)
    full.update(priority=2, units=1, tags=[], meta=custom, ts=ts, number=key.number)
    full.update(columns)
    full.update(summary_figures(full["scrapystats"], custom))
    return ParsedJob(line_number, key, spider_name, full)


def _spiders_for(batch: Sequence[ParsedJob]) -> dict[tuple[int, int], Spider]:
    """{(project_id, number): Spider}, creating what is missing. A name that
    another spider of the project already uses is an error on that line."""
    project_ids = {job.key.project_id for job in batch}
    existing_projects = set(Project.objects.filter(pk__in=project_ids).values_list("pk", flat=True))
    Project.objects.bulk_create([Project(pk=pid) for pid in project_ids - existing_projects])
    spiders = {(s.project_id, s.number): s for s in Spider.objects.filter(project_id__in=project_ids)}
    by_name = {(s.project_id, s.name): s for s in spiders.values()}
    for job in batch:
        wanted = (job.key.project_id, job.key.spider_number)
        spider = spiders.get(wanted)
        if spider is None:
            holder = by_name.get((job.key.project_id, job.spider_name))
            if holder is not None:
                raise ImportLineError(
                    job.line_number,
                    f"spider {job.spider_name!r} already has id {holder.number} in project "
                    f"{holder.project_id}, not {job.key.spider_number}.",
                )
            spider = Spider.objects.create(
                project_id=job.key.project_id, number=job.key.spider_number, name=job.spider_name
            )
            spiders[wanted] = by_name[(spider.project_id, spider.name)] = spider
        elif spider.name != job.spider_name:
            raise ImportLineError(
                job.line_number,
                f"spider {job.key.spider_number} of project {job.key.project_id} is "
                f"{spider.name!r}, not {job.spider_name!r}.",
            )
    return spiders


def _keep_ids_ahead(spiders: Mapping[tuple[int, int], Spider], batch: Sequence[ParsedJob]) -> None:
    """New spiders and jobs must never reuse an imported id. Runs before any
    job row is locked: a push locks its spider row first, then writes jobs and
    counters, and the import takes its locks in that same order."""
    for project_id in sorted({job.key.project_id for job in batch}):
        top = max(job.key.spider_number for job in batch if job.key.project_id == project_id)
        Project.objects.filter(pk=project_id, last_spider_number__lt=top).update(last_spider_number=top)
    tops: dict[int, int] = {}
    for job in batch:
        spider = spiders[(job.key.project_id, job.key.spider_number)]
        tops[spider.pk] = max(tops.get(spider.pk, 0), job.key.number)
    if not tops:
        return
    # One statement for every spider of the batch, in id order.
    table = connection.ops.quote_name(Spider._meta.db_table)
    rows = sorted(tops.items())
    values = ", ".join(["(%s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH tops (id, top) AS (VALUES {values}) "
            f"UPDATE {table} SET last_job_number = tops.top FROM tops "
            f"WHERE {table}.id = tops.id AND {table}.last_job_number < tops.top",
            [value for row in rows for value in row],
        )


# What the importer reads of a job already stored, under a row lock, before
# writing it: identity, state and what counters and spider health follow.
LOCKED_COLUMNS = (
    "id",
    "key",
    "project_id",
    "spider_id",
    "number",
    "state",
    "ts",
    *TIME_FIELDS,
    "close_reason",
    "items",
    "pages",
    "errors",
    "tags",
)
# Stored as jsonb / JSON text: sent to COPY as JSON text.
JSON_COLUMNS = frozenset({"spider_args", "scrapystats", "meta"})


def _lock_existing(keys: Sequence[str], columns: Sequence[str] = LOCKED_COLUMNS) -> dict[str, dict[str, Any]]:
    """{key: columns} of the jobs already stored under `keys`, locked until the
    transaction ends (`FOR NO KEY UPDATE` in id order, as lifecycle locks
    jobs, so the importer and the API never deadlock). Counter changes are
    computed from these rows: a concurrent update either finished before
    (and is seen here) or waits for this transaction."""
    found: dict[str, dict[str, Any]] = {}
    if connection.vendor == "postgresql" and set(columns) <= set(LOCKED_COLUMNS):
        # One statement, so the whole batch is locked in one id order; the
        # keys as one array parameter, not thousands of placeholders.
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(quote(name) for name in columns)} FROM {quote(Job._meta.db_table)} "
                "WHERE key = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                [list(keys)],
            )
            for values in cursor.fetchall():
                row = dict(zip(columns, values, strict=True))
                found[row["key"]] = row
        return found
    for start in range(0, len(keys), CHUNK_SIZE):
        rows = (
            Job.objects.filter(key__in=keys[start : start + CHUNK_SIZE])
            .order_by("pk")
            .select_for_update(no_key=True)
            .values(*columns)
        )
        found.update((row["key"], row) for row in rows)
    return found


def _after(job: ParsedJob, spiders: Mapping[tuple[int, int], Spider], job_id: int) -> dict[str, Any]:
    """A new job's columns as written, with its identity."""
    spider = spiders[(job.key.project_id, job.key.spider_number)]
    return {
        **job.columns,
        "id": job_id,
        "key": str(job.key),
        "project_id": spider.project_id,
        "spider_id": spider.pk,
    }


@dataclass
class Written:
    """What a batch changed: (columns before, columns after) of each job
    created (before is None) or changed; the after columns hold the id."""

    created: list[tuple[None, dict[str, Any]]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _copy_values(
    key: str, by_key: Mapping[str, ParsedJob], spiders: Mapping[tuple[int, int], Spider]
) -> list[Any]:
    """A batch job's COPY values: its identity (key, project, spider), then
    STORED_COLUMNS, JSON columns as JSON text."""
    job = by_key[key]
    spider = spiders[(job.key.project_id, job.key.spider_number)]
    values = job.columns
    return [
        key,
        spider.project_id,
        spider.pk,
        *(
            orjson.dumps(values[name]).decode()
            if name in JSON_COLUMNS and values[name] is not None
            else values[name]
            for name in STORED_COLUMNS
        ),
    ]


def _copy_from_stdin(cursor: CursorWrapper, table: str, identity: str) -> Copy:
    """A COPY into `table` of the `identity` columns, then STORED_COLUMNS
    (the order of _copy_values), its rows sent to PostgreSQL by a psycopg
    thread: writing a row never waits for PostgreSQL, which takes the rows
    in its own process while this one formats the rest and reads the next
    batch (the batch is queued in memory meanwhile, a few MB)."""
    names = ", ".join(connection.ops.quote_name(name) for name in STORED_COLUMNS)
    return cursor.cursor.copy(
        f"COPY {table} ({identity}, {names}) FROM STDIN", writer=QueuedLibpqWriter(cursor.cursor)
    )


def _copy_new_jobs(
    by_key: Mapping[str, ParsedJob],
    spiders: Mapping[tuple[int, int], Spider],
    written: Written,
    meanwhile: Callable[[], object],
) -> bool:
    """A batch of keys none of which is stored: COPY it straight into the
    jobs table, ids taken from the table's sequence first (COPY returns
    none), in key order as the INSERT below gives them. False, with nothing
    written, when another writer created one of the keys since the lock:
    the unique key refuses the COPY, and the batch takes the upsert path."""
    table = Job._meta.db_table
    keys = sorted(by_key)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(keys)]
        )
        ids = sorted(job_id for (job_id,) in cursor.fetchall())
        try:
            with (
                transaction.atomic(),
                _copy_from_stdin(
                    cursor, connection.ops.quote_name(table), "id, key, project_id, spider_id"
                ) as copy,
            ):
                for key, job_id in zip(keys, ids, strict=True):
                    copy.write_row([job_id, *_copy_values(key, by_key, spiders)])
                meanwhile()
        except UniqueViolation:
            return False
    written.created.extend(
        (None, _after(by_key[key], spiders, job_id)) for key, job_id in zip(keys, ids, strict=True)
    )
    return True


def _write_postgresql(
    batch: Sequence[ParsedJob], spiders: Mapping[tuple[int, int], Spider], meanwhile: Callable[[], object]
) -> Written:
    """A batch of new keys goes straight into the jobs table (_copy_new_jobs).
    Otherwise: COPY the batch into a temporary table, then one set-based
    UPDATE of the stored jobs that differ and one INSERT of the new ones.

    A job that another writer creates between the lock and the INSERT (a
    push that took the same number) makes the INSERT skip it
    (`ON CONFLICT DO NOTHING`); it is then locked and updated like any
    stored job, so its counters move from the state it really had.
    """
    written = Written()
    by_key = {str(job.key): job for job in batch}
    todo = list(by_key)
    locked = _lock_existing(todo)
    if not locked and _copy_new_jobs(by_key, spiders, written, meanwhile):
        return written
    table = connection.ops.quote_name(Job._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in STORED_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE jobq_import ON COMMIT DROP AS "
            f"SELECT key, project_id, spider_id, {names} FROM {table} WITH NO DATA"
        )
        with _copy_from_stdin(cursor, "jobq_import", "key, project_id, spider_id") as copy:
            for key in by_key:
                copy.write_row(_copy_values(key, by_key, spiders))
            meanwhile()
        stored = ", ".join(f"{table}.{connection.ops.quote_name(name)}" for name in STORED_COLUMNS)
        incoming = ", ".join(f"s.{connection.ops.quote_name(name)}" for name in STORED_COLUMNS)
        while True:
            if locked:
                cursor.execute(
                    f"UPDATE {table} SET ({names}) = ({incoming}) FROM jobq_import s "
                    f"WHERE {table}.id = ANY(%s) AND {table}.key = s.key "
                    f"AND ({stored}) IS DISTINCT FROM ({incoming}) RETURNING {table}.key",
                    [[row["id"] for row in locked.values()]],
                )
                for (key,) in cursor.fetchall():
                    row = locked[key]
                    written.changed.append((row, {**by_key[key].columns, "id": row["id"]}))
            if len(locked) == len(todo):
                break
            # Stored jobs conflict and are left alone: they were updated above.
            cursor.execute(
                f"INSERT INTO {table} (key, project_id, spider_id, {names}) "
                f"SELECT key, project_id, spider_id, {names} FROM jobq_import "
                "ORDER BY key ON CONFLICT (key) DO NOTHING RETURNING id, key"
            )
            inserted = set()
            for job_id, key in cursor.fetchall():
                written.created.append((None, _after(by_key[key], spiders, job_id)))
                inserted.add(key)
            todo = [key for key in todo if key not in locked and key not in inserted]
            if not todo:
                break
            locked = _lock_existing(todo)
        cursor.execute("DROP TABLE jobq_import")
    return written


def _write_sqlite(batch: Sequence[ParsedJob], spiders: Mapping[tuple[int, int], Spider]) -> Written:
    """The same writes with executemany: SQLite has no COPY, and its
    IMMEDIATE transactions already keep other writers out until the end."""
    written = Written()
    by_key = {str(job.key): job for job in batch}
    stored = _lock_existing(list(by_key), [*LOCKED_COLUMNS, *WRITTEN_COLUMNS])
    fields = {name: Job._meta.get_field(name) for name in STORED_COLUMNS}
    table = connection.ops.quote_name(Job._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in STORED_COLUMNS)

    def values(job: ParsedJob) -> list[Any]:
        return [fields[name].get_db_prep_save(job.columns[name], connection) for name in STORED_COLUMNS]  # type: ignore[union-attr]

    inserts: list[list[Any]] = []
    updates: list[list[Any]] = []
    for key, job in by_key.items():
        row = stored.get(key)
        if row is None:
            spider = spiders[(job.key.project_id, job.key.spider_number)]
            inserts.append([key, job.key.project_id, spider.pk, *values(job)])
        elif any(row[name] != job.columns[name] for name in job.columns):
            updates.append([*values(job), row["id"]])
            written.changed.append((row, {**job.columns, "id": row["id"]}))
    with connection.cursor() as cursor:
        if updates:
            assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in STORED_COLUMNS)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", updates)
        if inserts:
            marks = ", ".join(["%s"] * (3 + len(fields)))
            cursor.executemany(
                f"INSERT INTO {table} (key, project_id, spider_id, {names}) VALUES ({marks})", inserts
            )
            # SQLite gives no ids from executemany: read them back by key.
            new = {row[0]: row[1] for row in inserts}
            for start in range(0, len(inserts), CHUNK_SIZE):
                keys = [row[0] for row in inserts[start : start + CHUNK_SIZE]]
                for job_id, key in Job.objects.filter(key__in=keys).values_list("id", "key"):
                    written.created.append((None, _after(by_key[key], spiders, job_id)))
            assert len(written.created) == len(new)
    return written


def _do_nothing() -> None:
    pass


@transaction.atomic
def write_batch(
    batch: Iterable[ParsedJob], summary: ImportSummary, meanwhile: Callable[[], object] = _do_nothing
) -> None:
    """Upsert a batch of jobs in one transaction, with the counters, spider
    health, tags and id sequences that follow them.

    On PostgreSQL, `meanwhile` is called once the batch's rows are handed to
    COPY and before the COPY ends: it runs while PostgreSQL is still writing
    them. It must not use the database, nor raise (an error of its own is
    for the caller to keep and raise after this batch), and must do its work
    only once: a direct COPY that another writer's key refuses is followed
    by the upsert path's, which calls it again. On SQLite it is not called."""
    # Later lines for the same key win, as if applied one after the other.
    batch = list({str(job.key): job for job in batch}.values())
    spiders = _spiders_for(batch)
    _keep_ids_ahead(spiders, batch)
    if connection.vendor == "postgresql":
        written = _write_postgresql(batch, spiders, meanwhile)
    else:
        written = _write_sqlite(batch, spiders)
    # Every counter (per state, tag and day) moves from the rows as they were
    # when locked to the rows as written.
    counts = CountChanges()
    for _none, after in written.created:
        counts.added(after)
    for before, after in written.changed:
        counts.changed(before, {**before, **after})
    counts.apply()
    # Spider health follows the jobs (jobs/health/): one call per batch, with
    # each job's columns before (None when new) and after, ids included.
    runs_imported([*written.created, *written.changed])
    remember_tags((job.key.project_id, tag) for job in batch for tag in job.columns["tags"])
    summary.created += len(written.created)
    summary.updated += len(written.changed)
    summary.unchanged += len(batch) - len(written.created) - len(written.changed)
    summary.projects.update(job.key.project_id for job in batch)


class _NextBatch:
    """The next batch of lines, parsed on demand, once. An error in reading
    or checking it is kept and raised by `take`, so that reading it while the
    previous batch is still being written (write_batch's `meanwhile`) never
    stops that write."""

    def __init__(self, lines: Iterable[str], batch_size: int) -> None:
        self.numbered = enumerate(lines, start=1)
        self.batch_size = batch_size
        self.parsed: list[ParsedJob] | None = None
        self.error: Exception | None = None

    def read(self) -> None:
        if self.parsed is not None or self.error is not None:
            return
        batch: list[ParsedJob] = []
        try:
            for line_number, text in self.numbered:
                if text.strip():
                    batch.append(parse_line(text, line_number))
                    if len(batch) >= self.batch_size:
                        break
        except Exception as exc:  # raised by take(), after the write under way
            self.error = exc
        self.parsed = batch

    def take(self) -> list[ParsedJob]:
        self.read()
        if self.error is not None:
            raise self.error
        assert self.parsed is not None
        batch, self.parsed = self.parsed, None
        return batch


def import_lines(
    lines: Iterable[str],
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[ImportSummary], object] | None = None,
) -> ImportSummary:
    """Import an iterable of text lines; returns an ImportSummary.

    Raises ImportLineError at the first bad line: the batches before it are
    written, nothing of its own batch is.
    """
    summary = ImportSummary()
    upcoming = _NextBatch(lines, batch_size)
    # Each batch's successor is read while PostgreSQL writes the batch's rows
    # (write_batch's `meanwhile`): the two run side by side, on two cores.
    while batch := upcoming.take():
        write_batch(batch, summary, meanwhile=upcoming.read)
        if progress:
            progress(summary)
    return summary

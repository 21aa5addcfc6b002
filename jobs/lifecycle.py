"""Job lifecycle: every write that creates jobs or changes them.

The JobQ write views, the dashboard's bulk actions and the mirroring command
all come through here, so the rules live in one place:

- Each public function is one transaction: it applies fully or not at all,
  and keeps the job counters (per state, tag and day: jobs/counts.py) exact
  (`CountChanges`) in that same transaction, and the spiders' health figures and alerts too
  (`health.RunChanges`).
- A state transition sets `ts` and `<state>_time` to now. Deleted jobs keep
  their earlier times. Restoring a deleted job means moving it back to
  `finished`: it keeps its original `finished_time` (it did finish then) and
  `ts` becomes now, so the restored job is seen again by `list?stop=…`.
- Jobs are locked before they are changed (`SELECT … FOR NO KEY UPDATE`, in id
  order so that two writers cannot deadlock on each other's rows); SQLite's
  IMMEDIATE transactions serialise writers instead.
- The database is the referee for `unique`: the partial unique constraint
  `job_active_unique` refuses a second active job even when two pushes race.

Validation happens before any write: `push_request`, `update_request` and
`metadata_change` turn a JSON object into a checked request or raise
`MetadataError` naming the field, so a caller can refuse a whole body before
touching the database.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction

from .counts import CountChanges, row_of
from .health import RunChanges
from .jobmeta import (
    COLUMN_OF,
    METADATA_COLUMNS,
    TIME_FIELDS,
    MetadataError,
    clean_spider_name,
    clean_tags,
    metadata_of,
    now_ms,
    split_metadata,
    summary_figures,
)
from .keys import JobKey, parse_job_key, parse_spider_key
from .models import Job, JobQuerySet, Project, Spider, State, Tag

ACTIVE_STATES = (State.PENDING, State.RUNNING)
# Rows locked and written per round trip when a change covers many jobs.
CHUNK_SIZE = 1000
# The `*_by` column that records who moved a job into a state.
BY_COLUMN: dict[str, str] = {
    State.PENDING: "scheduled_by",
    State.RUNNING: "started_by",
    State.FINISHED: "completed_by",
}
# What a removed standard field goes back to (the model's defaults).
RESET_VALUE: dict[str, Any] = {"priority": 2, "units": 1, "tags": []}
# Fields that DELETE /jobs/…/<field> may not remove: the job's identity,
# its state, and the record of its transitions.
NOT_REMOVABLE = frozenset({"project", "spider", "key", "state", "auth", "_key", *TIME_FIELDS})
# Columns every edit reads: identity, state and times, and what the counters
# count jobs by (tags, close reason: jobs/counts.py).
BASE_COLUMNS = ("id", "key", "project_id", "spider_id", "state", "ts", "tags", "close_reason", *TIME_FIELDS)
CANCELLED = "cancelled"
# Computed by jobq, never stored as sent: a list line posted back carries them.
COMPUTED_FIELDS = frozenset({"ts", "elapsed"})
# What the edit engine does to one row (a dict of column values) at a given time.
RowEdit = Callable[[dict[str, Any], int], None]


class LifecycleError(ValueError):
    """A write that the database state refuses (e.g. a `unique` conflict)."""

    # Set by update_jobs: the index of the update at fault.
    line: int

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- validated requests ------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A checked change to a job's metadata.

    `state` moves the job (setting `ts` and `<state>_time`); `columns` are
    standard fields to set; `custom` is merged into the custom metadata and
    `removed` names custom fields to drop. `by` is recorded as who made the
    transition (see `change_state`). `spider_name`, when given, must be the
    job's spider: a client sending back a job's metadata repeats it.
    """

    state: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    removed: frozenset[str] = frozenset()
    by: str | None = None
    spider_name: str | None = None

    def needed_columns(self) -> set[str]:
        """The columns `apply` reads or writes, beyond BASE_COLUMNS."""
        columns = set(self.columns)
        if self.custom or self.removed or self.by:
            columns.add("meta")
        if self.by:
            columns.update(BY_COLUMN.values())
        if "scrapystats" in self.columns or _touches_figures(self.custom, self.removed):
            columns.update(("scrapystats", "meta", "items", "pages", "errors"))
        return columns

    def apply(self, row: dict[str, Any], now: int, spider_names: Mapping[int, str] | None = None) -> None:
        """Change `row` (a dict of column values) in place."""
        if (
            self.spider_name is not None
            and spider_names is not None
            and spider_names.get(row["spider_id"]) != self.spider_name
        ):
            raise MetadataError(
                "spider", f"spider {self.spider_name!r} is not the spider of job {row['key']}."
            )
        previous = row["state"]
        moved = self.state is not None and self.state != previous
        if moved:
            assert self.state is not None  # `moved` implies it; mypy cannot see that
            _move(row, self.state, now)
        # An explicit new time for the state the job is in is when it entered
        # it. The same time sent back (JobMeta.save() repeats every field)
        # changes nothing, so a restored job keeps its later ts.
        time_field = f"{row['state']}_time"
        new_time = self.columns.get(time_field)
        if new_time is not None and (moved or new_time != row[time_field]):
            row["ts"] = new_time
        for name, value in self.columns.items():
            row[name] = value
        custom, removed = self.custom, self.removed
        if self.by and moved:
            restored = previous == State.DELETED and self.state == State.FINISHED
            if self.state in BY_COLUMN and not restored:
                row[BY_COLUMN[self.state]] = self.by
            else:
                custom = {**custom, ("restored_by" if restored else "deleted_by"): self.by}
        if custom or removed:
            meta = {k: v for k, v in (row["meta"] or {}).items() if k not in removed}
            meta.update(custom)
            row["meta"] = meta
        if "scrapystats" in self.columns or _touches_figures(custom, removed):
            row.update(summary_figures(row["scrapystats"], row["meta"]))


def _touches_figures(custom: Mapping[str, Any], removed: Collection[str]) -> bool:
    return any(name in custom or name in removed for name in ("items", "pages", "errors"))


def _move(row: dict[str, Any], state: str, now: int) -> None:
    """The transition itself: `ts` and `<state>_time` become now, except that a
    restored job (deleted -> finished) keeps the time it really finished."""
    restored = row["state"] == State.DELETED and state == State.FINISHED
    row["state"] = state
    row["ts"] = now
    if not (restored and row["finished_time"] is not None):
        row[f"{state}_time"] = now


@dataclass(frozen=True)
class PushRequest:
    """A checked push line: the new job's spider, columns and custom metadata,
    and the line as sent (the duplicate answer repeats it)."""

    spider_name: str
    columns: dict[str, Any]
    custom: dict[str, Any]
    request: dict[str, Any]


@dataclass(frozen=True)
class UpdateRequest:
    """A checked update line: one job key, or a spider ("P/S": all its jobs
    that are not deleted), and the change to make."""

    key: str
    spider_number: int | None
    change: Change


def _check_project(data: Mapping[str, Any], project: Project) -> None:
    if "project" in data and data["project"] != project.pk and str(data["project"]) != str(project.pk):
        raise MetadataError("project", f"project {data['project']!r} is not project {project.pk}.")


def _without_computed(data: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in data.items() if name not in COMPUTED_FIELDS}


def push_request(data: object, *, project: Project) -> PushRequest:
    """A PushRequest of one push line, or MetadataError."""
    if not isinstance(data, dict):
        raise MetadataError("metadata", "a push line must be a JSON object.")
    if "spider" not in data:
        raise MetadataError("spider", "spider is required.")
    spider_name = clean_spider_name(data["spider"])
    _check_project(data, project)
    columns, custom = split_metadata(_without_computed(data))
    return PushRequest(spider_name, columns, custom, data)


def update_request(data: object, *, project: Project) -> UpdateRequest:
    """An UpdateRequest of one update line, or MetadataError."""
    if not isinstance(data, dict):
        raise MetadataError("metadata", "an update line must be a JSON object.")
    if not isinstance(data.get("key"), str):
        raise MetadataError("key", "key must be a job key (P/S/J) or a spider (P/S).")
    spider_number: int | None = None
    try:
        if data["key"].count("/") == 1:
            project_id, spider_number = parse_spider_key(data["key"])
        else:
            project_id = parse_job_key(data["key"]).project_id
    except ValueError as exc:
        raise MetadataError("key", str(exc)) from None
    if project_id != project.pk:
        raise MetadataError("key", f"{data['key']} is not in project {project.pk}.")
    return UpdateRequest(data["key"], spider_number, metadata_change(data, project=project))


def metadata_change(data: object, *, project: Project) -> Change:
    """The Change that a metadata object asks for: what `update` lines and
    POST /jobs/… send. Identity fields must match the job: the project here,
    the spider when the change is applied; `key`, `auth` and `_key` are left
    to the caller."""
    if not isinstance(data, dict):
        raise MetadataError("metadata", "metadata must be a JSON object.")
    _check_project(data, project)
    spider_name = clean_spider_name(data["spider"]) if "spider" in data else None
    columns, custom = split_metadata(_without_computed(data))
    state = columns.pop("state", None)
    return Change(state=state, columns=columns, custom=custom, spider_name=spider_name)


def removal_change(name: str) -> Change:
    """The Change that removes one metadata field (DELETE /jobs/…/<field>)."""
    if name in NOT_REMOVABLE:
        raise MetadataError(name, f"{name} cannot be removed.")
    if name in COLUMN_OF:
        column = COLUMN_OF[name]
        return Change(columns={column: RESET_VALUE.get(column)})
    return Change(removed=frozenset({name}))


# --- the edit engine ---------------------------------------------------------


def _encode(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _write_rows(changed: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Write [(row, {column: value})]: rows with the same new values go in
    one UPDATE, so a state change over many jobs is a few statements."""
    groups: dict[tuple[tuple[str, bytes], ...], tuple[dict[str, Any], list[int]]] = {}
    for row, values in changed:
        signature = tuple(sorted((name, _encode(value)) for name, value in values.items()))
        groups.setdefault(signature, (values, []))[1].append(row["id"])
    for values, ids in groups.values():
        for start in range(0, len(ids), CHUNK_SIZE):
            Job.objects.filter(pk__in=ids[start : start + CHUNK_SIZE]).update(**values)


_UNSET = object()


def _edit_rows(
    rows: Iterable[dict[str, Any]],
    edit: RowEdit,
    counts: CountChanges,
    now: int,
    *,
    runs: RunChanges | None = None,
) -> list[tuple[str, str]]:
    """Apply edit(row, now) to loaded rows; write what changed and note the
    counter moves (and, given `runs`, the changes spider health follows).
    Returns [(key, prevstate)] for every row."""
    results: list[tuple[str, str]]
    changed: list[tuple[dict[str, Any], dict[str, Any]]]
    results, changed = [], []
    for row in rows:
        before = dict(row)
        edit(row, now)
        values = {name: value for name, value in row.items() if before.get(name, _UNSET) != value}
        if values:
            changed.append((row, values))
            counts.changed(before, row)
            if runs is not None:
                runs.noted(before, row)
        results.append((row["key"], before["state"]))
    try:
        _write_rows(changed)
    except IntegrityError as exc:
        if not _is_unique_conflict(exc):
            raise
        # No savepoint is needed: every caller's transaction rolls back on this error.
        raise LifecycleError(
            "another active job already holds the same unique value.", field="unique"
        ) from None
    return results


def _edit_queryset(
    queryset: JobQuerySet,
    edit: RowEdit,
    counts: CountChanges,
    now: int,
    *,
    columns: Iterable[str] = (),
    runs: RunChanges | None = None,
) -> list[tuple[str, str]]:
    """Lock the jobs of `queryset` a chunk at a time, in id order, and edit them.

    Most selections fit in one chunk: one locked read. A bigger one reads the
    ids of the rest once, through whatever index suits its filter, then locks
    them by id; ordering the whole selection by id for every chunk would read
    it again each time. Each locked read repeats the filter, so a job that
    another writer changed meanwhile is left out if it no longer matches.
    """
    wanted = tuple(dict.fromkeys((*BASE_COLUMNS, *columns)))

    def locked(jobs: JobQuerySet) -> list[dict[str, Any]]:
        return list(jobs.order_by("pk").select_for_update(no_key=True).values(*wanted)[:CHUNK_SIZE])

    rows = locked(queryset)
    results = _edit_rows(rows, edit, counts, now, runs=runs)
    if len(rows) < CHUNK_SIZE:
        return results
    rest = sorted(queryset.filter(pk__gt=rows[-1]["id"]).order_by().values_list("pk", flat=True))
    for start in range(0, len(rest), CHUNK_SIZE):
        chunk = locked(queryset.filter(pk__in=rest[start : start + CHUNK_SIZE]))
        results.extend(_edit_rows(chunk, edit, counts, now, runs=runs))
    return results


# --- push --------------------------------------------------------------------


def _next_job_number(spider_id: int) -> int:
    """Take the spider's next job number. The UPDATE locks the spider row until
    the transaction ends, so concurrent pushes queue and never share a number."""
    table = connection.ops.quote_name(Spider._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_job_number = last_job_number + 1 WHERE id = %s "
            "RETURNING last_job_number",
            [spider_id],
        )
        return cursor.fetchone()[0]


def _insert_job(project: Project, spider: Spider, push: PushRequest, now: int) -> Job:
    number = _next_job_number(spider.pk)
    columns = {**push.columns}
    state = columns.setdefault("state", State.PENDING)
    # A job is pending from the moment it is pushed, whatever state it is pushed in.
    for name in ("pending_time", f"{state}_time"):
        if columns.get(name) is None:
            columns[name] = now
    figures = summary_figures(columns.get("scrapystats"), push.custom)
    job = Job.objects.create(
        project=project,
        spider=spider,
        number=number,
        key=f"{project.pk}/{spider.number}/{number}",
        ts=columns[f"{state}_time"],
        meta=push.custom,
        **figures,
        **columns,
    )
    return job


def _is_unique_conflict(exc: IntegrityError) -> bool:
    """True when `job_active_unique` refused a write. PostgreSQL names the
    constraint; SQLite names its columns."""
    text = str(exc)
    return "job_active_unique" in text or "jobs_job.unique_key" in text


def push_jobs(
    *, project: Project, pushes: Sequence[PushRequest], now: int | None = None
) -> list[dict[str, Any]]:
    """Create a job for each PushRequest, in order, in one transaction.

    Returns one answer per push: `{"key": …, "auth": None}`, or for a push
    whose `unique` an active job already holds, the contract's
    `{"error": "Active job exists with key …", "request": …}` (nothing is
    created for it, and no job number is used up).
    """
    now = now or now_ms()
    answers: list[dict[str, Any]]
    tags: set[tuple[int, str]]
    answers, counts, tags = [], CountChanges(), set()
    runs = RunChanges()
    # New spiders get their ids before the push's own transaction: `ensure`
    # locks the project row FOR UPDATE, and holding that lock while waiting
    # for a spider row deadlocks against a push whose commit checks its
    # foreign key to the project. A spider id given out for a push that then
    # fails is harmless (like /ids/…?create=1).
    spiders: dict[str, Spider] = {}
    for push in pushes:
        if push.spider_name not in spiders:
            spiders[push.spider_name] = Spider.objects.ensure(project, push.spider_name)
    with transaction.atomic():
        if len(spiders) > 1:
            # Lock the spider rows in id order, so two pushes naming the same
            # spiders in different orders cannot deadlock. NO KEY: foreign
            # key checks of other transactions need not wait for it.
            ids = sorted(spider.pk for spider in spiders.values())
            list(
                Spider.objects.filter(pk__in=ids)
                .order_by("pk")
                .select_for_update(no_key=True)
                .values_list("pk")
            )
        for push in pushes:
            spider = spiders[push.spider_name]
            state = push.columns.get("state", State.PENDING)
            unique = push.columns.get("unique_key")
            if unique is not None and state in ACTIVE_STATES:
                try:
                    # A savepoint: a refused push leaves no trace, not even a used number.
                    with transaction.atomic():
                        job = _insert_job(project, spider, push, now)
                except IntegrityError as exc:
                    if not _is_unique_conflict(exc):
                        raise
                    answers.append({"error": f"Active job exists with key {unique}", "request": push.request})
                    continue
            else:
                job = _insert_job(project, spider, push, now)
            counts.added(row_of(job))
            runs.added(job.pk, job.state)
            tags.update((project.pk, tag) for tag in job.tags)
            answers.append({"key": job.key, "auth": None})
        counts.apply()
        runs.apply(now=now)
        remember_tags(tags)
    return answers


# --- start, update, cancel ---------------------------------------------------


def start_next_job(
    *, project: Project, change: Change | None = None, now: int | None = None
) -> dict[str, Any] | None:
    """Move the oldest pending job of the project to running and return its
    metadata plus `key` and `auth`; None when nothing is pending.

    Concurrent callers never get the same job: on PostgreSQL each locks the
    oldest pending row it can and skips rows that others hold
    (`FOR NO KEY UPDATE SKIP LOCKED`); SQLite runs writers one at a time.
    `change` carries metadata to save on the started job (e.g. `started_by`).
    Priority does not reorder the queue: the contract asks for the oldest.
    """
    now = now or now_ms()
    change = change or Change()
    start = Change(state=State.RUNNING, columns=change.columns, custom=change.custom)
    counts, runs = CountChanges(), RunChanges()
    with transaction.atomic():
        row = (
            Job.objects.for_project(project)
            .filter(state=State.PENDING)
            .order_by("ts", "id")
            .select_for_update(skip_locked=True, no_key=True)
            .values(*METADATA_COLUMNS)
            .first()
        )
        if row is None:
            return None
        _edit_rows([row], start.apply, counts, now, runs=runs)
        counts.apply()
        runs.apply(now=now)
    spider_name = Spider.objects.filter(pk=row["spider_id"]).values_list("name", flat=True).get()
    return {**metadata_of(row, spider_name), "key": row["key"], "auth": None}


def _jobs_for(project: Project, update: UpdateRequest, spider_ids: Mapping[int, int] | None) -> JobQuerySet:
    jobs = Job.objects.for_project(project)
    if update.spider_number is None:
        return jobs.filter(key=update.key)
    assert spider_ids is not None  # update_jobs looks them up when an update names a spider
    spider_id = spider_ids.get(update.spider_number)
    return jobs.filter(spider_id=spider_id).exclude(state=State.DELETED) if spider_id else jobs.none()


def update_jobs(
    *, project: Project, updates: Sequence[UpdateRequest], now: int | None = None
) -> list[tuple[str, str]]:
    """Apply UpdateRequests in order, in one transaction; returns
    [(key, prevstate)] for every job matched, in order (a spider's jobs by id).

    Raises MetadataError (with `line`: the index of the update) when an
    update names a spider that is not the job's, and LifecycleError when a
    job would become active while another active job holds its `unique`.
    """
    now = now or now_ms()
    results: list[tuple[str, str]]
    spider_ids: dict[int, int] | None
    names: dict[int, str] | None
    counts, results = CountChanges(), []
    runs = RunChanges()
    spider_ids = names = None
    if any(update.spider_number is not None for update in updates):
        spider_ids = dict(Spider.objects.filter(project=project).values_list("number", "pk"))
    if any(update.change.spider_name is not None for update in updates):
        names = Spider.objects.names(project)
    keys = sorted({update.key for update in updates if update.spider_number is None})
    with transaction.atomic():
        if len(updates) > 1 and keys:
            # Lock every named job first, in id order: two requests naming
            # the same jobs in different orders then queue instead of deadlocking.
            list(
                Job.objects.for_project(project)
                .filter(key__in=keys)
                .order_by("pk")
                .select_for_update(no_key=True)
                .values_list("pk")
            )
        for index, update in enumerate(updates):
            change = update.change

            def edit(row: dict[str, Any], now: int, change: Change = change) -> None:
                change.apply(row, now, names)

            try:
                results.extend(
                    _edit_queryset(
                        _jobs_for(project, update, spider_ids),
                        edit,
                        counts,
                        now,
                        columns=change.needed_columns(),
                        runs=runs,
                    )
                )
            except (MetadataError, LifecycleError) as exc:
                exc.line = index
                raise
        counts.apply()
        runs.apply(now=now)
    return results


def edit_job(*, project: Project, key: JobKey | str, change: Change, now: int | None = None) -> bool:
    """Apply one Change to the job with that key; False when there is none."""
    now = now or now_ms()
    counts, runs = CountChanges(), RunChanges()
    names = Spider.objects.names(project) if change.spider_name is not None else None
    with transaction.atomic():
        results = _edit_queryset(
            Job.objects.for_project(project).filter(key=str(key)),
            lambda row, now: change.apply(row, now, names),
            counts,
            now,
            columns=change.needed_columns(),
            runs=runs,
        )
        counts.apply()
        runs.apply(now=now)
    return bool(results)


def cancel_jobs(*, project: Project, keys: Iterable[JobKey | str], by: str, now: int | None = None) -> int:
    """Cancel the jobs with these keys; returns how many were pending or running.

    A pending job becomes finished with close reason `cancelled`. A running
    job keeps running (its runner stops it) and is marked cancel-requested.
    Both record `cancelled_by` in the custom metadata: a running job with
    `cancelled_by` is one whose cancellation was asked for.
    """
    now = now or now_ms()
    counts, runs = CountChanges(), RunChanges()
    finish = Change(state=State.FINISHED, columns={"close_reason": CANCELLED}, custom={"cancelled_by": by})
    mark = Change(custom={"cancelled_by": by})

    def edit(row: dict[str, Any], now: int) -> None:
        (finish if row["state"] == State.PENDING else mark).apply(row, now)

    with transaction.atomic():
        results = _edit_queryset(
            Job.objects.for_project(project)
            .filter(key__in=[str(key) for key in keys])
            .in_states(ACTIVE_STATES),
            edit,
            counts,
            now,
            columns=("close_reason", "meta"),
            runs=runs,
        )
        counts.apply()
        runs.apply(now=now)
    return len(results)


# --- bulk actions (the dashboard) and tags ---------------------------------


def change_state(queryset: JobQuerySet, new_state: str, *, by: str | None = None) -> list[tuple[str, str]]:
    """Move every job of `queryset` to `new_state`, in one transaction.

    Used for delete (`deleted`) and restore (`finished`: see the module
    docstring). Jobs already in `new_state` are left alone. `by` records who
    did it: in `scheduled_by`/`started_by`/`completed_by` for pending/running/
    finished, and in the custom fields `deleted_by` or `restored_by` for a
    delete or a restore. Returns [(key, prevstate)] of the jobs changed.
    Raises LifecycleError if a job would become active while another active
    job holds its `unique`.
    """
    if new_state not in State.values:
        raise ValueError(f"unknown state {new_state!r}")
    change = Change(state=new_state, by=by)
    counts, runs = CountChanges(), RunChanges()
    with transaction.atomic():
        results = _edit_queryset(
            queryset.exclude(state=new_state),
            change.apply,
            counts,
            now_ms(),
            columns=change.needed_columns(),
            runs=runs,
        )
        counts.apply()
        runs.apply()
    return results


def remember_tags(pairs: Iterable[tuple[int, str]]) -> None:
    """Record (project_id, tag) pairs for the dashboard's tag autocomplete."""
    # In sorted order, so concurrent writers insert (and lock) the same rows
    # in the same order and cannot deadlock.
    Tag.objects.bulk_create(
        [Tag(project_id=project_id, name=name) for project_id, name in sorted(set(pairs))],
        ignore_conflicts=True,
    )


def _edit_tags(queryset: JobQuerySet, edit_tags: Callable[[list[str]], list[str]]) -> list[int]:
    """Apply edit_tags(old) -> new to each job's tags; returns the ids of the
    projects whose jobs changed, one per job changed."""
    changed: list[int] = []

    def edit(row: dict[str, Any], now: int) -> None:
        tags = edit_tags(row["tags"])
        if tags != row["tags"]:
            row["tags"] = tags
            changed.append(row["project_id"])

    counts = CountChanges()
    _edit_queryset(queryset, edit, counts, now_ms(), columns=("tags",))
    counts.apply()
    return changed


def add_tags(queryset: JobQuerySet, tags: list[str]) -> int:
    """Add `tags` to every job of `queryset`, in one transaction; returns how
    many jobs changed. A tag a job already has is not repeated."""
    tags = clean_tags(tags)
    with transaction.atomic():
        changed = _edit_tags(queryset, lambda old: old + [tag for tag in tags if tag not in old])
        remember_tags((project_id, tag) for project_id in set(changed) for tag in tags)
    return len(changed)


def remove_tags(queryset: JobQuerySet, tags: list[str]) -> int:
    """Remove `tags` from every job of `queryset`; returns how many jobs changed."""
    unwanted = set(clean_tags(tags))
    with transaction.atomic():
        return len(_edit_tags(queryset, lambda old: [tag for tag in old if tag not in unwanted]))

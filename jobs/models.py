"""The job store: projects, spiders, jobs, exact per-state counts, tags, keys.

Shaped for 10 million jobs per project: every job index leads with the
project and ends with `ts DESC, id DESC`, so the first page of any filter
reads only the rows it shows (see docs/performance.md).
"""

import functools
import hashlib
import hmac
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from .fields import FastJSONField, PostgresGinIndex, TagsField
from .fixedsql import Columns, fixed_cursor
from .timezones import DAY_MS

if TYPE_CHECKING:
    # What settings.AUTH_USER_MODEL names (django-stubs resolves it the same way).
    from django.contrib.auth.models import User


class State(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    DELETED = "deleted"


STATES = [state.value for state in State]
# The states that the partial index job_active_ts covers: few rows, often asked for.
UNFINISHED_STATES = [State.PENDING, State.RUNNING, State.DELETED]


# A hundred years: a longer retention is no retention.
RETENTION_MAX_DAYS = 36500


class Project(models.Model):
    # The numeric id is the project's public identity (the 53 of /jobq/53/list),
    # given by whoever creates the project, as on Scrapy Cloud.
    id = models.PositiveBigIntegerField(primary_key=True)
    name = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects", blank=True
    )
    # The last spider id given out; new spiders get the next one.
    last_spider_number = models.PositiveIntegerField(default=0)
    # Moves when one of the project's spiders is renamed or deleted: every
    # server process keeps the spiders' names (jobs/spidernames.py), and reads
    # this with the project on each request to know when to read them again.
    spider_names_version = models.PositiveBigIntegerField(default=0, editable=False)
    # Retention, applied by `manage.py purge_jobs`; empty keeps jobs forever.
    purge_deleted_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(RETENTION_MAX_DAYS)],
        help_text="Delete for good the jobs deleted more than this many days ago. Empty: keep them.",
    )
    purge_finished_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(RETENTION_MAX_DAYS)],
        help_text="Delete for good the jobs finished more than this many days ago. Empty: keep them.",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.name}".strip()

    @property
    def label(self) -> str:
        return self.name or f"Project {self.id}"

    def retention(self) -> dict[str, int]:
        """{state: days} of the retention policy: what purge_jobs deletes, and when."""
        policy = {
            State.DELETED: self.purge_deleted_after_days,
            State.FINISHED: self.purge_finished_after_days,
        }
        return {state: days for state, days in policy.items() if days}


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        MEMBER = "member"

    project = models.ForeignKey(Project, models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE)
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project_id} ({self.role})"


class SpiderQuerySet(models.QuerySet["Spider", "Spider"]):
    def names(self, project: "Project") -> dict[int, str]:
        """{spider pk: name} of a project: lines name spiders without a join."""
        return dict(self.filter(project=project).values_list("pk", "name"))

    def ensure(self, project: "Project", name: str) -> "Spider":
        """The project's spider of that name, created with the next id if new."""
        spider: Spider | None = self.filter(project=project, name=name).first()
        if spider is not None:
            return spider
        with transaction.atomic():
            # The project row's lock serialises id assignment (SQLite's
            # IMMEDIATE transactions serialise all writers anyway). NO KEY
            # UPDATE, so concurrent inserts whose foreign keys point at the
            # project don't wait on it and can't deadlock with it.
            locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
            spider = self.filter(project=project, name=name).first()
            if spider is None:
                locked.last_spider_number += 1
                locked.save(update_fields=["last_spider_number"])
                spider = self.create(project=locked, number=locked.last_spider_number, name=name)
        return spider


class Spider(models.Model):
    project = models.ForeignKey(Project, models.CASCADE, related_name="spiders")
    # The spider's id inside its project: the 7 of job key 53/7/81.
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    # The last job number given out; job numbers never repeat within a spider.
    last_job_number = models.PositiveBigIntegerField(default=0)

    objects = SpiderQuerySet.as_manager()

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            # /ids/<project>/spider/<name> and spider= filters.
            models.UniqueConstraint(fields=["project", "name"], name="spider_name_unique"),
            # Job keys: project/number/job.
            models.UniqueConstraint(fields=["project", "number"], name="spider_number_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class JobQuerySet(models.QuerySet["Job", "Job"]):
    def for_project(self, project: Project) -> Self:
        """Jobs of one project: every index starts with the project."""
        return self.filter(project=project)

    def in_states(self, states: Iterable[str]) -> Self:
        return self.filter(state__in=list(states))

    def newest_first(self) -> Self:
        """Most recent `ts` first, ties broken by id: the order every index ends with."""
        return self.order_by("-ts", "-id")

    def capped_count(self, cap: int) -> int:
        """min(number of jobs, cap + 1) in one query: `count(*)` over a
        `LIMIT cap + 1` subquery, so the database stops reading after
        cap + 1 rows (13-18 ms at 10M jobs where count(*) takes seconds).
        The caller shows "cap+" when the answer is above cap."""
        return self.order_by().values("pk")[: cap + 1].count()

    def per_state(self) -> list[tuple[str, int]]:
        """[(state, n)] of the matching jobs. Bound them first: this counts every one."""
        return list(self.order_by().values_list("state").annotate(n=models.Count("pk")))

    def per_day_by_state(self, *, offset_ms: int = 0) -> list[tuple[int, str, int]]:
        """[(day, state, n)] with day = whole days since the epoch in a zone
        `offset_ms` ahead of UTC: the dashboard's jobs-per-day chart.
        Bound the time range first: this reads every matching row."""
        day = models.ExpressionWrapper(
            (models.F("ts") + offset_ms) / DAY_MS, output_field=models.BigIntegerField()
        )
        rows = self.order_by().annotate(day=day).values_list("day", "state").annotate(n=models.Count("pk"))
        return list(rows)

    def per_day_by_state_and_reason(self, *, offset_ms: int = 0) -> list[tuple[int, str, str | None, int]]:
        """[(day, state, close_reason, n)]: per_day_by_state split by close
        reason, so the chart can stack finished jobs by outcome."""
        day = models.ExpressionWrapper(
            (models.F("ts") + offset_ms) / DAY_MS, output_field=models.BigIntegerField()
        )
        rows = (
            self.order_by()
            .annotate(day=day)
            .values_list("day", "state", "close_reason")
            .annotate(n=models.Count("pk"))
        )
        return list(rows)

    def after_key(self, ts: int, job_id: int) -> Self:
        """Jobs newer than the job at (ts, id), for `stop=`.

        The redundant `ts >= ts` bounds the index scan, so the database stops
        reading when it reaches the stop job instead of walking the rest.
        """
        return self.filter(Q(ts__gt=ts) | Q(ts=ts, id__gt=job_id), ts__gte=ts)

    def before_key(self, ts: int, job_id: int) -> Self:
        """Jobs older than the job at (ts, id): the keyset cursor for the next page."""
        return self.filter(Q(ts__lt=ts) | Q(ts=ts, id__lt=job_id), ts__lte=ts)

    def position(
        self, project_id: int, key: str, states: Collection[str] | None = None
    ) -> tuple[int, int] | None:
        """(ts, id) of the project's job `key` (in one of `states`, if given),
        None if there is none: where a keyset page, a live refresh's
        new-jobs count and `stop=` start from. Fixed SQL down job_key_unique:
        through the ORM, building the lookup took twice as long as running it."""
        connection = connections[self.db]
        quote = connection.ops.quote_name
        sql = f"SELECT ts, id, state FROM {quote(Job._meta.db_table)} WHERE {quote('key')} = %s AND project_id = %s"
        with fixed_cursor(connection) as cursor:
            cursor.execute(sql, [key, project_id])
            found = cursor.fetchone()
        if found is None or (states is not None and found[2] not in states):
            return None
        return found[0], found[1]

    def runs_of_spider(self, job: "Job") -> Self:
        """The live (not deleted) jobs of the job's spider, for the index job_spider_ts."""
        return self.filter(project_id=job.project_id, spider_id=job.spider_id).exclude(state=State.DELETED)

    def neighbour_keys(self, job: "Job") -> tuple[str | None, str | None]:
        """The keys of the spider's live runs just before and just after `job`
        in (ts, id) order, None where there is none: a step each way along
        job_spider_ts, in one fixed statement. Through the ORM, building the
        two queries took four times as long as running them."""
        connection = connections[self.db]
        quote = connection.ops.quote_name
        table, key = quote(Job._meta.db_table), quote("key")
        live_runs = f"SELECT {key} FROM {table} WHERE project_id = %s AND spider_id = %s AND state <> %s AND "
        before = "(ts < %s OR (ts = %s AND id < %s)) AND ts <= %s ORDER BY ts DESC, id DESC LIMIT 1"
        after = "(ts > %s OR (ts = %s AND id > %s)) AND ts >= %s ORDER BY ts, id LIMIT 1"
        params: list[int | str] = [
            job.project_id,
            job.spider_id,
            State.DELETED.value,
            job.ts,
            job.ts,
            job.id,
            job.ts,
        ]
        with fixed_cursor(connection) as cursor:
            cursor.execute(f"SELECT ({live_runs}{before}), ({live_runs}{after})", params * 2)
            previous, following = cursor.fetchone()
        return previous, following


class Job(models.Model):
    project = models.ForeignKey(Project, models.CASCADE, db_index=False, related_name="jobs")
    spider = models.ForeignKey(Spider, models.CASCADE, db_index=False, related_name="jobs")
    number = models.PositiveBigIntegerField()
    # "53/7/81", kept whole: the list answers it as is and stop=/key= find it by index.
    key = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    # Milliseconds since the epoch, UTC: the time the job entered its state.
    ts = models.BigIntegerField()
    pending_time = models.BigIntegerField(null=True, blank=True)
    running_time = models.BigIntegerField(null=True, blank=True)
    finished_time = models.BigIntegerField(null=True, blank=True)
    deleted_time = models.BigIntegerField(null=True, blank=True)
    tags = TagsField()
    close_reason = models.CharField(max_length=255, null=True, blank=True)
    priority = models.SmallIntegerField(default=2)
    units = models.PositiveIntegerField(default=1)
    # Summary figures, from the Scrapy stats unless given explicitly.
    items = models.BigIntegerField(null=True, blank=True)
    pages = models.BigIntegerField(null=True, blank=True)
    errors = models.BigIntegerField(null=True, blank=True)
    spider_args = FastJSONField(null=True, blank=True)
    version = models.CharField(max_length=255, null=True, blank=True)
    scheduled_by = models.CharField(max_length=255, null=True, blank=True)
    started_by = models.CharField(max_length=255, null=True, blank=True)
    completed_by = models.CharField(max_length=255, null=True, blank=True)
    scrapystats = FastJSONField(null=True, blank=True)
    # Any other metadata, with its JSON types kept.
    meta = FastJSONField(default=dict, blank=True)
    # The `unique` value of a push: at most one active job holds it.
    unique_key = models.CharField(max_length=255, null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        constraints = [
            # stop=, key=, /jobs/<key>, import upserts.
            models.UniqueConstraint(fields=["key"], name="job_key_unique"),
            # push with `unique`: the database refuses a second active job.
            models.UniqueConstraint(
                fields=["project", "unique_key"],
                condition=Q(state__in=[State.PENDING, State.RUNNING], unique_key__isnull=False),
                name="job_active_unique",
            ),
        ]
        indexes = [
            # list/count without a spider filter, and state=finished (97% of jobs).
            # `state` last: a deep offset (`start=`) skips its rows in an
            # index-only walk instead of visiting each skipped job's row.
            models.Index(fields=["project", "-ts", "-id", "state"], name="job_project_ts"),
            # spider= filters, the spider summary, previous/next run of a spider.
            models.Index(fields=["project", "spider", "-ts", "-id"], name="job_spider_ts"),
            # state=pending/running/deleted, startjob's oldest pending job, live rows.
            models.Index(
                fields=["project", "state", "-ts", "-id"],
                name="job_active_ts",
                condition=Q(state__in=UNFINISHED_STATES),
            ),
            # has_tag= / lacks_tag= (`tags && ARRAY[...]`), PostgreSQL only.
            PostgresGinIndex(fields=["tags"], name="job_tags_gin"),
            # outcome= other than finished (outcomes.outcome_q spells the same
            # condition): the few jobs that did not finish cleanly, newest first.
            models.Index(
                fields=["project", "-ts", "-id"],
                name="job_unclean_ts",
                condition=Q(state=State.FINISHED) & ~Q(close_reason="finished"),
            ),
        ]

    def __str__(self) -> str:
        return self.key


def counter_sum(
    counters: "models.QuerySet[JobCount] | models.QuerySet[TagCount]",
    project: Project | int,
    states: Iterable[str],
    spider_names: Iterable[str] | None,
    *,
    tag: str | None = None,
) -> int:
    """The sum of the project's counters (JobCount, or TagCount of `tag`) in
    `states`, of the named spiders if any. Fixed SQL: `/count` runs it on
    every request, and building it through the ORM took longer than the
    database does to answer it. Only the counters' table and database are
    taken from `counters`: it must not be filtered."""
    return _counters_total(counters, project, spider_names=spider_names, tag=tag, states=list(states))


def counter_sums_by_state(
    counters: "models.QuerySet[JobCount] | models.QuerySet[TagCount]",
    project: Project | int,
    spider_names: Iterable[str] | None,
    *,
    tag: str | None = None,
    spider: "Spider | None" = None,
) -> dict[str, int]:
    """{state: the sum of its counters} for every state, zeros included, as
    counter_sum sums them (of one spider, with `spider`). Fixed SQL too: the
    dashboard's state chips, drawn again by every open page's refresh."""
    return _counters_by_state(counters, project, spider_names=spider_names, tag=tag, spider=spider)


def _counters_total(counters: "models.QuerySet[Any, Any]", project: Project | int, **matching: Any) -> int:
    """The sum of the matching counters (_matching_counters)."""
    rows = _summed_counters(counters, project, "COALESCE(SUM(c.n), 0)", **matching)
    return int(rows[0][0]) if rows else 0


def _counters_by_state(
    counters: "models.QuerySet[Any, Any]", project: Project | int, **matching: Any
) -> dict[str, int]:
    """{state: the sum of its matching counters} for every state, zeros included."""
    found = {
        state: int(n)
        for state, n in _summed_counters(counters, project, "c.state, SUM(c.n)", "c.state", **matching)
    }
    return {state: found.get(state, 0) for state in STATES}


def _summed_counters(
    counters: "models.QuerySet[Any, Any]",
    project: Project | int,
    select: str,
    group_by: str = "",
    **matching: Any,
) -> list[tuple[Any, ...]]:
    """The rows of `SELECT <select>` over the project's counters that match
    (_matching_counters), grouped by `group_by`: fixed SQL, prepared."""
    found = _matching_counters(counters, project, **matching)
    if found is None:
        return []
    where, params = found
    group = f" GROUP BY {group_by}" if group_by else ""
    with fixed_cursor(connections[counters.db]) as cursor:
        cursor.execute(f"SELECT {select} FROM {where}{group}", params)
        return cursor.fetchall()


def _matching_counters(
    counters: "models.QuerySet[Any, Any]",
    project: Project | int,
    *,
    spider_names: Iterable[str] | None = None,
    tag: str | None = None,
    spider: "Spider | None" = None,
    states: list[str] | None = None,
    outcomes: Iterable[str] | None = None,
    days: tuple[int | None, int | None] = (None, None),
) -> tuple[str, list[str | int]] | None:
    """("<counters' table> c WHERE …", params): the project's counters that
    match, for counter_sum, counter_sums_by_state and the daily figures
    (`outcomes` and `days` are theirs); None when none can (no spider or
    no state named)."""
    assert not counters.query.has_filters(), "counters are filtered here, not by the queryset"
    project_id = project.pk if isinstance(project, Project) else project
    quote = connections[counters.db].ops.quote_name
    names = None if spider_names is None else list(spider_names)
    if names == [] or states == []:
        return None
    where = ["c.project_id = %s"]
    params: list[str | int] = [project_id]
    if states is not None:
        where.append(f"c.state IN ({', '.join(['%s'] * len(states))})")
        params += states
    if tag is not None:
        where.append("c.tag = %s")
        params.append(tag)
    if spider is not None:
        where.append("c.spider_id = %s")
        params.append(spider.pk)
    if outcomes is not None:
        outcomes = list(outcomes)
        where.append(f"c.state = %s AND c.outcome IN ({', '.join(['%s'] * len(outcomes))})")
        params += [State.FINISHED.value, *outcomes]
    first_day, last_day = days
    if first_day is not None:
        where.append("c.day >= %s")
        params.append(first_day)
    if last_day is not None:
        where.append("c.day <= %s")
        params.append(last_day)
    if names is not None:
        where.append(
            f"c.spider_id IN (SELECT s.id FROM {quote(Spider._meta.db_table)} s"
            f" WHERE s.project_id = %s AND s.name IN ({', '.join(['%s'] * len(names))}))"
        )
        params += [project_id, *names]
    return f"{quote(counters.model._meta.db_table)} c WHERE {' AND '.join(where)}", params


class JobCountQuerySet(models.QuerySet["JobCount", "JobCount"]):
    def total(
        self, project: Project | int, states: Iterable[str], spider_names: Iterable[str] | None = None
    ) -> int:
        """Jobs of the project in `states` (of the named spiders): one index lookup."""
        return counter_sum(self, project, states, spider_names)

    def by_state(
        self, project: Project, spider: Spider | None = None, spider_names: Iterable[str] | None = None
    ) -> dict[str, int]:
        """{state: count} for every state, zeros included; of one spider, or
        of the named spiders (the dashboard's spider filter)."""
        return counter_sums_by_state(self, project, spider_names, spider=spider)


class JobCount(models.Model):
    """Exact number of jobs per (project, spider, state), kept in the same
    transaction as every change, so count and summary never scan jobs."""

    project = models.ForeignKey(Project, models.CASCADE, db_index=False)
    spider = models.ForeignKey(Spider, models.CASCADE, db_index=False)
    state = models.CharField(max_length=8, choices=State.choices)
    n = models.BigIntegerField(default=0)

    objects = JobCountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "spider", "state"], name="jobcount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.spider_id} {self.state}: {self.n}"


class TagCountQuerySet(models.QuerySet["TagCount", "TagCount"]):
    def total(
        self, project: Project, states: Iterable[str], tag: str, spider_names: Iterable[str] | None = None
    ) -> int:
        """Jobs of the project in `states` with `tag` (of the named spiders):
        one range of the (project, tag, spider, state) constraint's index."""
        return counter_sum(self, project, states, spider_names, tag=tag)

    def by_state(
        self, project: Project, tag: str, spider_names: Iterable[str] | None = None
    ) -> dict[str, int]:
        """{state: jobs with `tag`} for every state, zeros included."""
        return counter_sums_by_state(self, project, spider_names, tag=tag)


class TagCount(models.Model):
    """Exact number of jobs per (project, spider, state, tag), kept like
    JobCount: `count?has_tag=` and `lacks_tag=` (total minus has) of one tag
    never scan jobs."""

    project = models.ForeignKey(Project, models.CASCADE, db_index=False)
    spider = models.ForeignKey(Spider, models.CASCADE, db_index=False)
    state = models.CharField(max_length=8, choices=State.choices)
    tag = models.CharField(max_length=255)
    n = models.BigIntegerField(default=0)

    objects = TagCountQuerySet.as_manager()

    class Meta:
        constraints = [
            # The tag before the spider: a count of one tag over every spider
            # reads one contiguous range (TagCountQuerySet.total), and the
            # counter upserts find their row.
            models.UniqueConstraint(fields=["project", "tag", "spider", "state"], name="tagcount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.spider_id} {self.state} {self.tag}: {self.n}"


class DayFiguresQuerySet[M: models.Model](models.QuerySet[M, M]):
    """Daily figures: DayCount, or DayTagCount of one tag."""

    def selection(
        self,
        project: Project,
        states: Iterable[str],
        spider_names: Iterable[str] | None = None,
        outcomes: Iterable[str] | None = None,
        days: tuple[int | None, int | None] = (None, None),
        *,
        tag: str | None = None,
    ) -> "DaySelection":
        """The figures of the project in `states` (of the named spiders; with
        `outcomes`, finished jobs with those outcomes only) over `days`
        (first and last UTC day since the epoch, both included; None:
        unbounded on that side); of DayTagCount, those of `tag`."""
        return DaySelection(
            self,
            project,
            _in_states_order(states),
            None if spider_names is None else tuple(spider_names),
            None if outcomes is None else tuple(outcomes),
            days,
            tag,
        )


@dataclass(frozen=True)
class DaySelection:
    """Daily figures that match a filter (DayFiguresQuerySet.selection),
    summed in fixed SQL: the chart of every full list page and counts over
    time windows read them, and building each sum through the ORM took as
    long as PostgreSQL summing thousands of rows."""

    counters: "models.QuerySet[Any, Any]"
    project: Project
    # In STATES' order: one statement text per set of states.
    states: tuple[str, ...]
    spider_names: tuple[str, ...] | None
    outcomes: tuple[str, ...] | None
    days: tuple[int | None, int | None]
    tag: str | None

    def in_states(self, states: Iterable[str]) -> "DaySelection":
        return replace(self, states=_in_states_order(set(self.states) & set(states)))

    def total(self) -> int:
        return _counters_total(self.counters, self.project, **self._matching())

    def by_state(self) -> dict[str, int]:
        """{state: jobs} for every state, zeros included."""
        return _counters_by_state(self.counters, self.project, **self._matching())

    def per_day_by_badge(self) -> list[tuple[int, str, int]]:
        """[(day, badge, n)]: what the dashboard's chart draws."""
        sums = _summed_counters(
            self.counters, self.project, "c.day, c.outcome, SUM(c.n)", "c.day, c.outcome", **self._matching()
        )
        return [(day, badge, int(n)) for day, badge, n in sums]

    def _matching(self) -> dict[str, Any]:
        return {
            "spider_names": self.spider_names,
            "tag": self.tag,
            "states": list(self.states),
            "outcomes": self.outcomes,
            "days": self.days,
        }


def _in_states_order(states: Iterable[str]) -> tuple[str, ...]:
    wanted = set(states)
    return tuple(state for state in STATES if state in wanted)


class DayCountQuerySet(DayFiguresQuerySet["DayCount"]):
    pass


class DayTagCountQuerySet(DayFiguresQuerySet["DayTagCount"]):
    pass


class DayCount(models.Model):
    """Exact number of jobs per (project, spider, state, outcome, UTC day of
    `ts`), kept like JobCount: the dashboard's chart and counts over a time
    window read whole days here instead of aggregating jobs. `outcome` is the
    job's badge (outcomes.badge_of: a finished job's outcome, else its state)."""

    project = models.ForeignKey(Project, models.CASCADE, db_index=False)
    spider = models.ForeignKey(Spider, models.CASCADE, db_index=False)
    state = models.CharField(max_length=8, choices=State.choices)
    outcome = models.CharField(max_length=16)
    # Whole UTC days since the epoch: floor(ts / 86,400,000).
    day = models.BigIntegerField()
    n = models.BigIntegerField(default=0)

    objects = DayCountQuerySet.as_manager()

    class Meta:
        constraints = [
            # The upserts' conflict target.
            models.UniqueConstraint(
                fields=["project", "spider", "state", "outcome", "day"], name="daycount_unique"
            ),
        ]
        indexes = [
            # The chart's and windowed counts' days of a project, every spider at once.
            models.Index(fields=["project", "day"], name="daycount_project_day"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.spider_id} {self.state} {self.outcome} day {self.day}: {self.n}"


class DayTagCount(models.Model):
    """DayCount per tag: exact number of jobs per (project, tag, UTC day of
    `ts`, spider, state, outcome), kept like the other counters. The chart
    and windowed counts of a list filtered by one tag read whole days here
    (of `lacks_tag`: DayCount minus these) instead of aggregating the tag's
    jobs, which took 230 ms for a month of a 2% tag at 10M jobs."""

    project = models.ForeignKey(Project, models.CASCADE, db_index=False)
    spider = models.ForeignKey(Spider, models.CASCADE, db_index=False)
    tag = models.CharField(max_length=255)
    state = models.CharField(max_length=8, choices=State.choices)
    outcome = models.CharField(max_length=16)
    day = models.BigIntegerField()
    n = models.BigIntegerField(default=0)

    objects = DayTagCountQuerySet.as_manager()

    class Meta:
        constraints = [
            # The upserts' conflict target, and the chart's days of one tag:
            # the project and the tag, then the days as one range.
            models.UniqueConstraint(
                fields=["project", "tag", "day", "spider", "state", "outcome"], name="daytagcount_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.spider_id} {self.tag} {self.state} {self.outcome} day {self.day}: {self.n}"


# Tags a page offers to complete what someone types.
TAG_SUGGESTIONS = 500


class TagQuerySet(models.QuerySet["Tag", "Tag"]):
    def suggestions(self, project: Project, typed: str = "") -> list[str]:
        """The project's tag names containing `typed`, by name, at most
        TAG_SUGGESTIONS: the (project, name) unique index walks them in order."""
        if typed:
            tags = self.filter(project=project, name__icontains=typed).order_by("name")
            return list(tags.values_list("name", flat=True)[:TAG_SUGGESTIONS])
        # Every full list page lists them: fixed SQL, prepared.
        database = connections[self.db]
        quote = database.ops.quote_name
        with fixed_cursor(database) as cursor:
            cursor.execute(
                f"SELECT {quote('name')} FROM {quote(self.model._meta.db_table)}"
                f" WHERE {quote('project_id')} = %s ORDER BY {quote('name')} LIMIT {TAG_SUGGESTIONS}",
                [project.pk],
            )
            return [name for (name,) in cursor.fetchall()]


class Tag(models.Model):
    """Every tag a project's jobs have used: the dashboard's tag autocomplete."""

    project = models.ForeignKey(Project, models.CASCADE, db_index=False)
    name = models.CharField(max_length=255)

    objects = TagQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="tag_unique"),
        ]

    def __str__(self) -> str:
        return self.name


def digest_of(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey", "ApiKey"]):
    def active(self) -> Self:
        return self.filter(revoked_at__isnull=True)

    def find(self, raw_key: str) -> "ApiKey | None":
        """The active key whose digest matches, or None. A key owned by a
        deactivated user is not active either."""
        return self.find_with_project(raw_key, None)[0]

    def find_with_project(
        self, raw_key: str, project_id: int | None
    ) -> tuple["ApiKey | None", Project | None]:
        """(key, project): the active key whose digest matches (its user
        loaded), and the project `project_id` if that key may see it (None
        when it may not, or when there is no such project). One query by
        the digest's index, in fixed SQL: every API request runs it."""
        digest = digest_of(raw_key)
        connection = connections[self.db]
        with fixed_cursor(connection) as cursor:
            cursor.execute(_key_and_project_sql(connection.alias), [project_id, digest])
            row = cursor.fetchone()
        # The lookup is by an index; compare again in constant time anyway.
        if row is None or not hmac.compare_digest(row[_KEY_DIGEST], digest):
            return None, None
        keys, users, projects = _key_columns()
        key = keys.instance(row[: len(keys)], connection)
        user_row = row[len(keys) : len(keys) + len(users)]
        # Set even when None, so that key.user never queries.
        key.user = users.instance(user_row, connection) if key.user_id is not None else None
        project_row = row[len(keys) + len(users) :]
        project = projects.instance(project_row, connection) if project_row[0] is not None else None
        return key, project


@functools.cache
def _key_columns() -> tuple[Columns["ApiKey"], Columns["User"], Columns[Project]]:
    return Columns(ApiKey, "k"), Columns(get_user_model(), "u"), Columns(Project, "p")


_KEY_DIGEST = 3  # the digest's position among ApiKey's columns (checked in _key_and_project_sql)


@functools.cache
def _key_and_project_sql(alias: str) -> str:
    """The key by its digest with its user, and the project if the key may see it:
    listed on the key and, for a person's key, a project of that person's
    (a superuser's reaches every project the key lists)."""
    keys, users, projects = _key_columns()
    assert keys.fields[_KEY_DIGEST].name == "digest"
    connection = connections[alias]
    quote = connection.ops.quote_name
    through = ApiKey.projects.through._meta
    user_pk = quote(users.pk_column)
    return f"""
        SELECT {keys.select(connection)}, {users.select(connection)}, {projects.select(connection)}
        FROM {quote(keys.table)} k
        LEFT JOIN {quote(users.table)} u ON u.{user_pk} = k.user_id
        LEFT JOIN {quote(projects.table)} p ON p.id = %s
            AND EXISTS (
                SELECT 1 FROM {quote(through.db_table)} kp
                WHERE kp.{quote(through.get_field("apikey").column)} = k.id
                AND kp.{quote(through.get_field("project").column)} = p.id
            )
            AND (k.user_id IS NULL OR u.is_superuser OR EXISTS (
                SELECT 1 FROM {quote(Membership._meta.db_table)} m
                WHERE m.project_id = p.id AND m.user_id = k.user_id
            ))
        WHERE k.digest = %s AND k.revoked_at IS NULL AND (k.user_id IS NULL OR u.is_active)
    """


class ApiKey(models.Model):
    """An API key: shown once when created, stored only as its SHA-256 digest."""

    name = models.CharField(max_length=100, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    projects = models.ManyToManyField(Project, related_name="api_keys")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so people can tell their keys apart.
    prefix = models.CharField(max_length=8, editable=False)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name or 'key'} ({self.prefix}…)"

    @classmethod
    def generate(
        cls,
        *,
        projects: Iterable[Project],
        name: str = "",
        user: "User | None" = None,
        read_only: bool = False,
    ) -> tuple["ApiKey", str]:
        """Create a key and return (key, raw): the raw key exists only here.

        32 hex characters, like Scrapy Cloud's keys, so every client accepts it.
        """
        raw = secrets.token_hex(16)
        key = cls.objects.create(
            name=name, user=user, read_only=read_only, digest=digest_of(raw), prefix=raw[:8]
        )
        key.projects.set(projects)
        return key, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class BulkAction(models.Model):
    """What someone did to jobs in the dashboard, for the record: the bulk
    actions on many jobs at once, and each run scheduled or job cancelled
    (`selection` then names the one job)."""

    class Action(models.TextChoices):
        ADD_TAG = "add_tag", "add tag"
        REMOVE_TAG = "remove_tag", "remove tag"
        DELETE = "delete"
        RESTORE = "restore"
        RUN = "run"
        CANCEL = "cancel"

    project = models.ForeignKey(Project, models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    tag = models.CharField(max_length=255, blank=True)
    # The filter or the keys it was applied to, as a query string.
    selection = models.TextField(blank=True)
    count = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on {self.count} jobs"


class SyncCursor(models.Model):
    """How far `sync_jobq` has copied one state of a project from another JobQ.

    Everything in `state` on the source up to `newest_key` (the newest job of
    the last completed pass) is copied; the next run asks only for what is
    newer (`stop=newest_key`). A pass in progress is the range from
    `pass_top_key` down to `pass_low_ts`, so an interrupted run resumes where
    it stopped. Pending and running are listed whole on every run; their
    cursor only records the newest job seen. The API key is never stored.
    """

    source_url = models.CharField(max_length=255)
    source_project = models.PositiveBigIntegerField()
    into_project = models.PositiveBigIntegerField()
    state = models.CharField(max_length=8, choices=State.choices)
    newest_key = models.CharField(max_length=64, blank=True)
    newest_ts = models.BigIntegerField(null=True, blank=True)
    pass_top_key = models.CharField(max_length=64, blank=True)
    pass_top_ts = models.BigIntegerField(null=True, blank=True)
    pass_low_ts = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One cursor per source project, local project and state: sync_jobq's lookup.
            models.UniqueConstraint(
                fields=["source_url", "source_project", "into_project", "state"],
                name="synccursor_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_url} {self.source_project} -> {self.into_project} {self.state}: {self.newest_key or '-'}"


# --- spider health and alerts (jobs/health/, jobs/alerts/) -----------------


class SpiderHealth(models.Model):
    """Figures of one spider's recent runs, kept up to date in the same
    transaction as the jobs that change them (`health.RunChanges`), so the
    spiders overview reads one row per spider instead of scanning jobs.
    `manage.py rebuild_health` recomputes them from the jobs."""

    spider = models.OneToOneField(Spider, models.CASCADE, primary_key=True, related_name="health")
    project = models.ForeignKey(Project, models.CASCADE, db_index=False)
    # The newest finished runs, oldest first, at most health.RUNS_KEPT:
    # [job number, running_time, finished_time, close_reason, items, pages, errors].
    runs = FastJSONField(default=list)
    # Finished runs per UTC day and outcome over the last days:
    # {"<days since the epoch>": {"<outcome>": n}}.
    days = FastJSONField(default=dict)
    # When a run of the spider last started (ms), for "silent for too long".
    last_started = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            # The spiders overview: every spider of a project.
            models.Index(fields=["project"], name="spiderhealth_project"),
        ]

    def __str__(self) -> str:
        return f"health of spider {self.spider_id}"


class AlertRule(models.Model):
    """When to tell whom about a project's spiders (jobs/alerts/rules.py)."""

    class Kind(models.TextChoices):
        OUTCOME = "outcome", "a job ends with an outcome outside a list"
        STAT_BELOW = "stat_below", "a figure falls below a share of the spider's usual"
        ERRORS_ABOVE = "errors_above", "a job logs more errors than a limit"
        SILENT = "silent", "a spider starts no run for some hours"
        RUNNING_LONG = "running_long", "a job runs longer than some hours"
        PENDING_LONG = "pending_long", "a job waits in the queue longer than some hours"

    class Format(models.TextChoices):
        JOBQ = "jobq", "jobq JSON"
        SLACK = "slack", "Slack-compatible"

    project = models.ForeignKey(Project, models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OUTCOME)
    enabled = models.BooleanField(default=True)
    # Kind OUTCOME: the outcomes that raise no alert.
    accepted = models.JSONField(default=list, blank=True)
    # Kind STAT_BELOW: items, pages, errors, duration or any Scrapy stat, and the share.
    stat = models.CharField(max_length=255, blank=True, default="items")
    percent = models.PositiveSmallIntegerField(null=True, blank=True)
    # Kind ERRORS_ABOVE: the most errors a job may log.
    errors = models.PositiveBigIntegerField(null=True, blank=True)
    # Kinds SILENT, RUNNING_LONG, PENDING_LONG.
    hours = models.FloatField(null=True, blank=True)
    # Only these spiders / jobs with any of these tags; empty: all.
    spiders = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Channels: a webhook and/or e-mail addresses.
    webhook_url = models.URLField(max_length=1000, blank=True)
    webhook_format = models.CharField(max_length=8, choices=Format.choices, default=Format.JOBQ)
    # Signs each webhook body (HMAC-SHA256); the receiver holds the same secret.
    webhook_secret = models.CharField(max_length=64, blank=True)
    emails = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["project", "name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def email_list(self) -> list[str]:
        return [address for address in self.emails.replace(",", " ").split() if address]

    @property
    def channels(self) -> list[str]:
        """The channels the rule sends to: "webhook", "email"."""
        return [name for name, on in (("webhook", self.webhook_url), ("email", self.email_list)) if on]


class Alert(models.Model):
    """One alert raised by a rule, recorded in the same transaction as the
    change that raised it. `subject` names what it is about (a job, a
    silence since a given start), so a rule raises it only once."""

    rule = models.ForeignKey(AlertRule, models.CASCADE, related_name="alerts")
    project = models.ForeignKey(Project, models.CASCADE, db_index=False)
    spider = models.ForeignKey(Spider, models.CASCADE, null=True, blank=True, db_index=False)
    job = models.ForeignKey(Job, models.CASCADE, null=True, blank=True, db_index=False)
    subject = models.CharField(max_length=100)
    summary = models.TextField()
    # What the channels send (the webhook's JSON body).
    payload = models.JSONField(default=dict)
    test = models.BooleanField(default=False)
    created_at = models.BigIntegerField()

    class Meta:
        constraints = [
            # Once per rule and job (or silence): raising it again is a no-op.
            models.UniqueConstraint(fields=["rule", "subject"], name="alert_once"),
        ]
        indexes = [
            # The alerts page's history: a project's newest alerts.
            models.Index(fields=["project", "-created_at", "-id"], name="alert_project_created"),
        ]

    def __str__(self) -> str:
        return self.summary


class AlertDelivery(models.Model):
    """An alert on one channel: sent once, retried with backoff until then."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        RETRYING = "retrying"
        FAILED = "failed"

    alert = models.ForeignKey(Alert, models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due (ms); a SENDING delivery whose lease ran
    # out (its worker died mid-send) is due again.
    next_attempt_at = models.BigIntegerField()
    lease_until = models.BigIntegerField(null=True, blank=True)
    last_attempt_at = models.BigIntegerField(null=True, blank=True)
    sent_at = models.BigIntegerField(null=True, blank=True)
    # The receiver's answer to the last attempt (status and body, or the error).
    response = models.TextField(blank=True)

    class Meta:
        constraints = [
            # Each alert once per channel.
            models.UniqueConstraint(fields=["alert", "channel"], name="delivery_once"),
        ]
        indexes = [
            # The worker's sweep for deliveries that are due and not done.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status__in=["pending", "sending", "retrying"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} by {self.channel}: {self.status}"


class HealthClock(models.Model):
    """When the worker next evaluates the time-based rules: workers take the
    turn with one conditional UPDATE, so several workers never double up."""

    name = models.CharField(max_length=32, primary_key=True)
    next_at = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.next_at}"

"""The Django admin, for staff: projects and their members, spiders, jobs,
API keys, and the read-only records (bulk actions, tags).

The job changelist is built to stay fast on millions of jobs:

- it always shows one project (the first by default), ordered `-ts, -id`,
  so every page walks an index that leads with the project;
- it never counts the whole table: the per-state counters answer when the
  filters are only project/spider/state, a count capped at 10,000 otherwise
  (PostgreSQL's `reltuples` estimate for an unfiltered table);
- the spider filter lists the selected project's spiders only, the close
  reason filter offers Scrapy's reasons instead of a SELECT DISTINCT, and the
  date drill-down (year → month → day, UTC) computes its links from the
  selected period instead of scanning for dates.

Job edits keep the counters exact by never touching the state: state, key,
project, spider and times are read-only, jobs cannot be added or deleted
here (the API and the dashboard do that), and a save writes only the fields
the form changed, so a concurrent state change is never overwritten.
"""

import calendar
import datetime
import json
import secrets

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.paginator import Paginator
from django.db import connection, models
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from ..formatting import TIME_FORMAT
from ..jobmeta import MetadataError, clean_tags
from ..keys import INT64_MAX, parse_job_key
from ..lifecycle import remember_tags
from ..listing import COUNT_CAP
from ..models import (
    ApiKey,
    BulkAction,
    Job,
    JobCount,
    Membership,
    Project,
    Spider,
    SyncCursor,
    Tag,
    digest_of,
)
from ..timezones import local_datetime

UTC = datetime.UTC


def ms_to_datetime(ms):
    """The admin shows UTC, like its date drill-down."""
    return None if ms is None else local_datetime(ms, UTC)


def format_ms(ms):
    """Milliseconds since the epoch as a readable UTC time."""
    moment = ms_to_datetime(ms)
    return "—" if moment is None else moment.strftime(TIME_FORMAT)


def datetime_to_ms(moment):
    return int(moment.timestamp() * 1000)


def int64(text):
    """A positive 64-bit id from a query parameter; ValueError otherwise."""
    value = int(text) if str(text).isascii() and str(text).isdigit() else 0
    if not 0 < value <= INT64_MAX:
        raise ValueError(f"{str(text)[:20]!r} is not an id.")
    return value


# --- counting without scanning ------------------------------------------------


class CheapCountPaginator(Paginator):
    """A paginator whose `count` never counts a whole large table.

    `exact` (a callable) answers when the caller knows the count cheaply (the
    counters); else an unfiltered PostgreSQL table gives its planner estimate,
    and anything else a count capped at COUNT_CAP + 1 rows.
    """

    estimated = False

    def __init__(self, *args, exact=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.exact = exact
        self.cap = COUNT_CAP

    @cached_property
    def count(self):
        if self.exact is not None:
            return self.exact()
        queryset = self.object_list
        if not queryset.query.where and connection.vendor == "postgresql":
            estimate = table_estimate(queryset.model)
            if estimate > self.cap:
                self.estimated = True
                return estimate
        return queryset.order_by().values("pk")[: self.cap + 1].count()

    @property
    def capped(self):
        """True when `count` is only a lower bound (shown as "10,000+")."""
        return self.exact is None and not self.estimated and self.count > self.cap


def table_estimate(model):
    """PostgreSQL's row estimate for a table (-1 or 0 when never analysed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return max(row[0], 0) if row else 0


class FastCountAdmin(admin.ModelAdmin):
    """No COUNT(*) of the whole table on each page, no facet counts."""

    paginator = CheapCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    list_max_show_all = 200


# --- projects ------------------------------------------------------------------


def counted_jobs(outer_field):
    """Subquery summing the counters of the outer row (a project or a spider)."""
    return Coalesce(
        Subquery(
            JobCount.objects.filter(**{outer_field: OuterRef("pk")})
            .order_by()
            .values(outer_field)
            .annotate(total=Sum("n"))
            .values("total")
        ),
        0,
    )


def summarised_deletion(objects, request):
    """What deleting projects or spiders removes, from the counters: Django's
    default lists every related row, which is millions of jobs here."""
    lines, jobs = [], 0
    for obj in objects:
        field = "project" if isinstance(obj, Project) else "spider"
        n = JobCount.objects.filter(**{field: obj}).aggregate(n=Sum("n"))["n"] or 0
        jobs += n
        lines.append(f"{obj._meta.verbose_name.capitalize()} {obj} and its {n:,} jobs")
    model_count = {Job._meta.verbose_name_plural: f"{jobs:,}"}
    return lines, model_count, set(), []


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "jobs", "spider_count", "member_count"]
    list_display_links = ["id", "name"]
    search_fields = ["=id", "name"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                job_total=counted_jobs("project"),
                spider_total=models.Count("spiders", distinct=True),
                member_total=models.Count("membership", distinct=True),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        # Changing the id would copy the project, not rename it.
        return ["last_spider_number"] + (["id"] if obj else [])

    @admin.display(description="jobs", ordering="job_total")
    def jobs(self, obj):
        return f"{obj.job_total:,}"

    @admin.display(description="spiders", ordering="spider_total")
    def spider_count(self, obj):
        return obj.spider_total

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    def get_deleted_objects(self, objs, request):
        return summarised_deletion(objs, request)


@admin.register(Spider)
class SpiderAdmin(FastCountAdmin):
    list_display = ["name", "number", "project", "jobs", "last_job_number"]
    list_filter = ["project"]
    list_select_related = ["project"]
    search_fields = ["name"]
    fields = ["project", "number", "name", "last_job_number"]
    readonly_fields = ["project", "number", "last_job_number"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(job_total=counted_jobs("spider"))

    def has_add_permission(self, request):
        # Spiders get their id on first use (push, import, /ids/…?create=1).
        return False

    @admin.display(description="jobs", ordering="job_total")
    def jobs(self, obj):
        return f"{obj.job_total:,}"

    def get_deleted_objects(self, objs, request):
        return summarised_deletion(objs, request)


# --- jobs ----------------------------------------------------------------------


def chosen_project_id(request):
    """The project the job changelist shows: ?project=, the project of a job
    key searched for, or the first project. Cached on the request."""
    if not hasattr(request, "_admin_project_id"):
        value = request.GET.get("project")
        if value is None:
            try:
                value = parse_job_key(request.GET.get("q", "").strip()).project_id
            except ValueError:
                value = Project.objects.order_by("pk").values_list("pk", flat=True).first()
        try:
            request._admin_project_id = None if value is None else int64(value)
        except ValueError:
            request._admin_project_id = None
    return request._admin_project_id


class ProjectFilter(admin.SimpleListFilter):
    """Always one project: every job index leads with the project."""

    title = "project"
    parameter_name = "project"

    def lookups(self, request, model_admin):
        return [(str(p.pk), str(p)) for p in Project.objects.order_by("pk")]

    def value(self):
        chosen = chosen_project_id(self.request)
        return None if chosen is None else str(chosen)

    def choices(self, changelist):
        # No "All": a page across projects could not use any index.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}, ["spider", "p"]),
                "display": title,
            }

    def queryset(self, request, queryset):
        chosen = chosen_project_id(request)
        if chosen is None:
            if request.GET.get(self.parameter_name) is not None:
                raise IncorrectLookupParameters(f"Bad {self.parameter_name}.")
            return queryset.none()  # there is no project yet
        return queryset.filter(project_id=chosen)


class SpiderFilter(admin.SimpleListFilter):
    """The selected project's spiders, the busiest first (at most 50)."""

    title = "spider"
    parameter_name = "spider"
    limit = 50

    def lookups(self, request, model_admin):
        project_id = chosen_project_id(request)
        if project_id is None:
            return []
        spiders = (
            Spider.objects.filter(project_id=project_id)
            .annotate(total=counted_jobs("spider"))
            .order_by("-total", "name")
            .values_list("pk", "name")[: self.limit]
        )
        return [(str(pk), name) for pk, name in spiders]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(spider_id=int64(self.value()))
        except ValueError as exc:
            raise IncorrectLookupParameters(str(exc)) from None


class CloseReasonFilter(admin.SimpleListFilter):
    """Scrapy's close reasons; any other value works from the URL."""

    title = "close reason"
    parameter_name = "close_reason"
    reasons = [
        "finished",
        "cancelled",
        "shutdown",
        "failed",
        "memusage_exceeded",
        "closespider_timeout",
        "closespider_itemcount",
        "closespider_pagecount",
        "closespider_errorcount",
    ]

    def lookups(self, request, model_admin):
        return [(reason, reason) for reason in self.reasons]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(close_reason=self.value())


class Period:
    """A year, month or day (UTC), spelled "2026", "2026-11" or "2026-11-28"."""

    def __init__(self, year, month=None, day=None):
        self.year, self.month, self.day = year, month, day
        datetime.date(year, month or 1, day or 1)  # ValueError when impossible

    @classmethod
    def parse(cls, text):
        parts = text.split("-")
        if not 1 <= len(parts) <= 3 or not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(f"{text!r} is not a year, month or day.")
        return cls(*(int(p) for p in parts))

    def __str__(self):
        return "-".join(
            f"{v:02d}" if i else str(v)
            for i, v in enumerate((self.year, self.month, self.day))
            if v is not None
        )

    @property
    def label(self):
        if self.day:
            return datetime.date(self.year, self.month, self.day).strftime("%d %B %Y")
        if self.month:
            return datetime.date(self.year, self.month, 1).strftime("%B %Y")
        return str(self.year)

    @property
    def short_label(self):
        """The label among its siblings: "November", "Sat 28"."""
        if self.day:
            return datetime.date(self.year, self.month, self.day).strftime("%a %d")
        if self.month:
            return datetime.date(self.year, self.month, 1).strftime("%B")
        return str(self.year)

    def bounds_ms(self):
        """[start, end) in milliseconds."""
        start = datetime.datetime(self.year, self.month or 1, self.day or 1, tzinfo=UTC)
        if self.day:
            end = start + datetime.timedelta(days=1)
        elif self.month:
            end = (start + datetime.timedelta(days=32)).replace(day=1)
        else:
            end = start.replace(year=self.year + 1)
        return datetime_to_ms(start), datetime_to_ms(end)

    def parent(self):
        if self.day:
            return Period(self.year, self.month)
        if self.month:
            return Period(self.year)
        return None

    def children(self):
        if self.day:
            return []
        if self.month:
            days = calendar.monthrange(self.year, self.month)[1]
            return [Period(self.year, self.month, day) for day in range(1, days + 1)]
        return [Period(self.year, month) for month in range(1, 13)]


class DateDrillDown(admin.SimpleListFilter):
    """Year → month → day by `ts` (UTC), as `date_hierarchy` would do on a
    DateTimeField. The links are computed from the selected period; the only
    query is the project's oldest `ts` (one index probe) to list the years."""

    title = "date (UTC)"
    parameter_name = "period"
    max_years = 10

    def lookups(self, request, model_admin):
        # Filled in by choices(): the links depend on the selected period.
        return [("", "")]

    def selected(self):
        return Period.parse(self.value()) if self.value() else None

    def years(self):
        project_id = chosen_project_id(self.request)
        this_year = timezone.now().year
        oldest = Job.objects.filter(project_id=project_id).order_by("ts").values_list("ts", flat=True).first()
        first = ms_to_datetime(oldest).year if oldest is not None else this_year
        first = max(first, this_year - self.max_years + 1)
        return [Period(year) for year in range(this_year, first - 1, -1)]

    def choices(self, changelist):
        try:
            selected = self.selected()
        except ValueError:
            selected = None

        def link(period, display, chosen=False):
            if period is None:
                query = changelist.get_query_string(remove=[self.parameter_name, "p"])
            else:
                query = changelist.get_query_string({self.parameter_name: str(period)}, ["p"])
            return {"selected": chosen, "query_string": query, "display": display}

        yield link(None, "Any date", selected is None)
        if selected is None:
            for year in self.years():
                yield link(year, year.label)
            return
        ancestors = []
        period = selected.parent()
        while period is not None:
            ancestors.insert(0, period)
            period = period.parent()
        for period in ancestors:
            yield link(period, f"‹ {period.label}")
        yield link(selected, selected.label, True)
        now = timezone.now()
        for child in selected.children():
            start, _ = child.bounds_ms()
            if start <= datetime_to_ms(now):
                yield link(child, child.short_label)

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            start, end = Period.parse(self.value()).bounds_ms()
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(str(exc)) from None
        return queryset.filter(ts__gte=start, ts__lt=end)


class TagListField(forms.CharField):
    """Tags edited as comma-separated text."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        tags = [tag.strip() for tag in text.split(",") if tag.strip()]
        try:
            return clean_tags(tags)
        except MetadataError as exc:
            raise forms.ValidationError(exc.message) from None


class JobForm(forms.ModelForm):
    tags = TagListField(required=False, help_text="Comma-separated.")

    class Meta:
        model = Job
        # The admin's fieldsets choose what shows; read-only fields are never written.
        fields = "__all__"  # noqa: DJ007


@admin.register(Job)
class JobAdmin(FastCountAdmin):
    form = JobForm
    list_display = [
        "key",
        "spider_name",
        "state",
        "when",
        "items",
        "pages",
        "errors",
        "close_reason",
        "tag_list",
    ]
    list_filter = [ProjectFilter, SpiderFilter, "state", CloseReasonFilter, DateDrillDown]
    list_select_related = ["spider"]
    ordering = ["-ts", "-id"]
    # Sorting by another column would sort every job of the project.
    sortable_by = []
    search_fields = ["key"]
    search_help_text = "A job key (53/7/81) or an exact tag."
    actions = None
    fieldsets = [
        (None, {"fields": ["key", "project", "spider", "state", "ts_readable", "close_reason"]}),
        (
            "Times (UTC)",
            {"fields": ["pending_readable", "running_readable", "finished_readable", "deleted_readable"]},
        ),
        (
            "Metadata",
            {
                "fields": [
                    "tags",
                    "priority",
                    "units",
                    "spider_args",
                    "version",
                    "scheduled_by",
                    "started_by",
                    "completed_by",
                    "meta",
                    "unique_key",
                ]
            },
        ),
        ("Scrapy stats", {"fields": ["items", "pages", "errors", "stats_readable"]}),
    ]
    readonly_fields = [
        "key",
        "project",
        "spider",
        "state",
        "ts_readable",
        "pending_readable",
        "running_readable",
        "finished_readable",
        "deleted_readable",
        "unique_key",
        "items",
        "pages",
        "errors",
        "stats_readable",
    ]

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return CheapCountPaginator(
            queryset, per_page, orphans, allow_empty_first_page, exact=self.counter_total(request)
        )

    def counter_total(self, request):
        """A callable counting from the counters when the filters allow it, else None."""
        params = set(request.GET) - {"p", "o", "_changelist_filters"}
        if params - {"project", "spider", "state"} or request.GET.get("q"):
            return None
        project_id = chosen_project_id(request)
        if project_id is None:
            return lambda: 0
        counts = JobCount.objects.filter(project_id=project_id)
        try:
            if request.GET.get("spider"):
                counts = counts.filter(spider_id=int64(request.GET["spider"]))
            if request.GET.get("state"):
                counts = counts.filter(state=request.GET["state"])
        except ValueError:
            return None
        return lambda: counts.aggregate(n=Sum("n"))["n"] or 0

    def get_search_results(self, request, queryset, search_term):
        """A job key finds that job; anything else is an exact tag (`tags &&`)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            key = parse_job_key(term)
        except ValueError:
            return queryset.filter(tags__overlap=[term]), False
        return queryset.filter(key=str(key)), False

    def has_add_permission(self, request):
        return False  # jobs come through the API, imports and the dashboard

    def has_delete_permission(self, request, obj=None):
        return False  # deleting is a state change (deleted), with counters

    def save_model(self, request, obj, form, change):
        # Only what the form changed: state and counters stay as the API left them.
        if form.changed_data:
            obj.save(update_fields=form.changed_data)
        if "tags" in form.changed_data:
            remember_tags((obj.project_id, tag) for tag in obj.tags)

    @admin.display(description="spider")
    def spider_name(self, obj):
        return obj.spider.name

    @admin.display(description="ts (UTC)")
    def when(self, obj):
        return format_ms(obj.ts)

    @admin.display(description="tags")
    def tag_list(self, obj):
        return ", ".join(obj.tags)

    @admin.display(description="ts (UTC)")
    def ts_readable(self, obj):
        return f"{format_ms(obj.ts)}  ({obj.ts})"

    def _time(self, ms):
        return "—" if ms is None else f"{format_ms(ms)}  ({ms})"

    @admin.display(description="pending")
    def pending_readable(self, obj):
        return self._time(obj.pending_time)

    @admin.display(description="running")
    def running_readable(self, obj):
        return self._time(obj.running_time)

    @admin.display(description="finished")
    def finished_readable(self, obj):
        return self._time(obj.finished_time)

    @admin.display(description="deleted")
    def deleted_readable(self, obj):
        return self._time(obj.deleted_time)

    @admin.display(description="scrapystats")
    def stats_readable(self, obj):
        if not obj.scrapystats:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(obj.scrapystats, indent=2, sort_keys=True))


# --- API keys ------------------------------------------------------------------


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "user", "projects", "read_only"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are generated here, shown once in a message, stored as a digest."""

    form = ApiKeyForm
    list_display = ["__str__", "user", "project_list", "read_only", "active", "created_at", "last_used_at"]
    list_filter = ["read_only", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    autocomplete_fields = ["user", "projects"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("projects")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "projects", "read_only"]
        return ["name", "prefix", "user", "projects", "read_only", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            raw = secrets.token_hex(16)  # as ApiKey.generate makes them
            obj.digest, obj.prefix = digest_of(raw), raw[:8]
            messages.warning(
                request,
                format_html(
                    "The new API key is <code>{}</code>. Copy it now: it is stored only as a digest "
                    "and will not be shown again.",
                    raw,
                ),
            )
        super().save_model(request, obj, form, change)

    @admin.display(description="projects")
    def project_list(self, obj):
        return ", ".join(str(p.pk) for p in obj.projects.all())

    @admin.display(description="active", boolean=True)
    def active(self, obj):
        return obj.is_active

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)


# --- read-only records -------------------------------------------------------------


class ReadOnlyAdmin(FastCountAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BulkAction)
class BulkActionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "project", "user", "action", "tag", "count", "selection"]
    list_filter = ["action", "project"]
    list_select_related = ["project", "user"]
    date_hierarchy = "created_at"


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["name", "project"]
    list_filter = ["project"]
    list_select_related = ["project"]
    search_fields = ["name"]


@admin.register(SyncCursor)
class SyncCursorAdmin(FastCountAdmin):
    """Where sync_jobq got to. Read-only; deleting a cursor makes the next
    sync_jobq run copy that state again from the top (upserts: no duplicates)."""

    list_display = [
        "source_url",
        "source_project",
        "into_project",
        "state",
        "newest_key",
        "newest",
        "updated_at",
    ]
    list_filter = ["state", "into_project"]
    ordering = ["source_url", "source_project", "into_project", "state"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="newest ts (UTC)")
    def newest(self, obj):
        return format_ms(obj.newest_ts)

"""The job changelist's filters, shaped for millions of jobs: always one
project (every job index leads with it), that project's spiders, Scrapy's
close reasons without a SELECT DISTINCT, and a date drill-down computed
from the selected period instead of scanned for."""

import calendar
import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone

from ..access import visible_projects
from ..formatting import local_time
from ..keys import INT64_MAX, parse_job_key
from ..models import Job, Spider
from ..timezones import local_datetime
from .counting import counted_jobs

UTC = datetime.UTC


def ms_to_datetime(ms):
    """The admin shows UTC, like its date drill-down (None for no time, or
    one that is not a date)."""
    return None if ms is None else local_datetime(ms, UTC)


def format_ms(ms):
    """Milliseconds since the epoch as a readable UTC time."""
    return "—" if ms is None else local_time(ms, UTC)


def datetime_to_ms(moment):
    return int(moment.timestamp() * 1000)


def int64(text):
    """A positive 64-bit id from a query parameter; ValueError otherwise."""
    value = int(text) if str(text).isascii() and str(text).isdigit() else 0
    if not 0 < value <= INT64_MAX:
        raise ValueError(f"{str(text)[:20]!r} is not an id.")
    return value


def chosen_project_id(request):
    """The project the job changelist shows: ?project=, the project of a job
    key searched for, or the first project. Cached on the request."""
    if not hasattr(request, "_admin_project_id"):
        value = request.GET.get("project")
        if value is None:
            try:
                value = parse_job_key(request.GET.get("q", "").strip()).project_id
            except ValueError:
                projects = visible_projects(request.user).order_by("pk")
                value = projects.values_list("pk", flat=True).first()
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
        return [(str(p.pk), str(p)) for p in visible_projects(request.user).order_by("pk")]

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
        moment = ms_to_datetime(oldest)
        first = this_year if moment is None else moment.year
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

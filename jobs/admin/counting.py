"""Counting without scanning: the admin's changelists never count a whole
table of millions of jobs, nor list every job a deletion would remove."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property

from ..listing import COUNT_CAP
from ..models import Job, JobCount, Project


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

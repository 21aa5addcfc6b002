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

import json
import secrets

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db import models, transaction
from django.db.models import Sum
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from ..access import visible_projects
from ..counts import add_to_counters, remove_from_counters
from ..filters import ProjectsField
from ..keys import parse_job_key
from ..lifecycle import remember_tags
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
from ..ops.login_throttle import ThrottledAdminAuthenticationForm
from .counting import CheapCountPaginator, FastCountAdmin, counted_jobs, summarised_deletion
from .filters import (
    CloseReasonFilter,
    DateDrillDown,
    ProjectFilter,
    SpiderFilter,
    chosen_project_id,
    format_ms,
    int64,
)
from .forms import ApiKeyForm, JobForm

# The admin's own login counts failures as the login page does.
admin.site.login_form = ThrottledAdminAuthenticationForm

# --- who sees what ----------------------------------------------------------------


class ScopedToProjects:
    """Superusers see every project's rows; other staff only the rows of
    projects they are members of, as in the dashboard (jobs.access)."""

    # The lookup from a row to its project.
    project_lookup = "project"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.project_lookup}__in": visible_projects(request.user)})


class RefusesBadLookups:
    """A changelist whose query string the database cannot take (a NUL byte
    on PostgreSQL, a year or an integer past its range) is Django's "?e=1"
    answer for bad lookups, not a 500."""

    def get_changelist_instance(self, request):
        if any("\x00" in value for _, values in request.GET.lists() for value in values):
            raise IncorrectLookupParameters("A parameter holds a NUL byte.")
        try:
            return super().get_changelist_instance(request)  # type: ignore[misc]
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(str(exc)) from None


class VisibleProjectsFilter(admin.RelatedFieldListFilter):
    """A project list filter that offers only the projects the person may see."""

    def field_choices(self, field, request, model_admin):
        return [(project.pk, str(project)) for project in visible_projects(request.user).order_by("pk")]


# --- projects ------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(RefusesBadLookups, ScopedToProjects, admin.ModelAdmin):
    project_lookup = "pk"
    list_display = ["id", "name", "jobs", "spider_count", "member_count", "retention"]
    list_display_links = ["id", "name"]
    search_fields = ["=id", "name"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["id", "name", "last_spider_number"]}),
        (
            "Retention",
            {
                "fields": ["purge_deleted_after_days", "purge_finished_after_days"],
                "description": (
                    "Applied by <code>manage.py purge_jobs</code>, which should run daily "
                    "(docs/operations.md). Pending and running jobs are never purged."
                ),
            },
        ),
    ]

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

    @admin.display(description="retention")
    def retention(self, obj):
        policy = obj.retention()
        if not policy:
            return "keep all"
        return ", ".join(f"{state} after {days} d" for state, days in policy.items())

    def get_deleted_objects(self, objs, request):
        return summarised_deletion(objs, request)


@admin.register(Spider)
class SpiderAdmin(RefusesBadLookups, ScopedToProjects, FastCountAdmin):
    list_display = ["name", "number", "project", "jobs", "last_job_number"]
    list_filter = [("project", VisibleProjectsFilter)]
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


@admin.register(Job)
class JobAdmin(RefusesBadLookups, ScopedToProjects, FastCountAdmin):
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
        # Only what the form changed; tags and close reason are counted
        # (jobs/counts.py), so the job is uncounted as it was and counted as
        # it is, in the same transaction, its row locked meanwhile.
        if form.changed_data:
            with transaction.atomic():
                this_job = Job.objects.filter(pk=obj.pk)
                list(this_job.select_for_update(no_key=True).values_list("pk"))
                remove_from_counters(this_job)
                obj.save(update_fields=form.changed_data)
                add_to_counters(this_job)
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


@admin.register(ApiKey)
class ApiKeyAdmin(RefusesBadLookups, admin.ModelAdmin):
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
        keys = super().get_queryset(request).prefetch_related("projects")
        if request.user.is_superuser:
            return keys
        # A key that also reaches a project the person may not see is not theirs to change.
        hidden = Project.objects.exclude(pk__in=visible_projects(request.user))
        return (
            keys.filter(projects__in=visible_projects(request.user)).exclude(projects__in=hidden).distinct()
        )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "projects":
            kwargs["queryset"] = visible_projects(request.user)
            kwargs["form_class"] = ProjectsField
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "projects", "read_only"]
        return ["name", "prefix", "user", "projects", "read_only", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            raw = secrets.token_hex(16)  # as ApiKey.generate makes them
            obj.digest, obj.prefix = digest_of(raw), raw[:8]
            # Kept on this request only, for response_add: a message would
            # store the raw key in the session or a cookie until it is shown.
            request.new_api_key = raw
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        """The raw key, once, in the answer to the POST that made it."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "key": obj,
            "raw_key": request.new_api_key,
            "change_url": reverse("admin:jobs_apikey_change", args=[obj.pk]),
            "list_url": reverse("admin:jobs_apikey_changelist"),
        }
        response = TemplateResponse(request, "admin/jobs/apikey/created.html", context)
        # Neither kept by the browser nor by a proxy.
        response["Cache-Control"] = "no-store"
        return response

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
class BulkActionAdmin(RefusesBadLookups, ScopedToProjects, ReadOnlyAdmin):
    list_display = ["created_at", "project", "user", "action", "tag", "count", "selection"]
    list_filter = ["action", ("project", VisibleProjectsFilter)]
    list_select_related = ["project", "user"]
    date_hierarchy = "created_at"


@admin.register(Tag)
class TagAdmin(RefusesBadLookups, ScopedToProjects, ReadOnlyAdmin):
    list_display = ["name", "project"]
    list_filter = [("project", VisibleProjectsFilter)]
    list_select_related = ["project"]
    search_fields = ["name"]


@admin.register(SyncCursor)
class SyncCursorAdmin(RefusesBadLookups, ScopedToProjects, FastCountAdmin):
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
    # A project id, not a foreign key: the cursor outlives the project.
    project_lookup = "into_project"
    ordering = ["source_url", "source_project", "into_project", "state"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="newest ts (UTC)")
    def newest(self, obj):
        return format_ms(obj.newest_ts)

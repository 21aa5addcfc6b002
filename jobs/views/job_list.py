"""The project picker and the job list: the page, its live refresh, its
chart and its tag suggestions.

The list's query string is parsed once per request (`listing.parse_list_request`)
and everything below works from that result.
"""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from ..access import project_for_user, visible_projects
from ..chart import chart_of
from ..filters import JobKeyField, JobKeyListField
from ..health import usual_for_rows
from ..jobmeta import MAX_TEXT, now_ms
from ..links import FilterLinks, job_list_url, with_query
from ..listing import (
    NEW_JOBS_CAP,
    PAGE_SIZE,
    PENDING_COUNT,
    PRESETS,
    ROW_COLUMNS,
    ROW_EXPRESSIONS,
    ListRequest,
    StateCounts,
    capped_state_counts,
    daily_figures,
    exact_state_counts,
    new_jobs_count,
    newest_ts_of,
    page_of,
    parse_list_request,
)
from ..models import STATES, Job, Tag
from ..outcomes import OUTCOMES
from ..rows import LIVE_STATES, row_of
from ..snippets import api_snippets
from ..spidernames import spider_names as cached_spider_names
from ..timezones import local_datetime, zone_name
from . import bad_request, form_errors

# Seconds between refreshes of live rows, state counts and the new-jobs notice.
LIVE_SECONDS = 5
# Seconds between two capped counts of one open page (several tags, say):
# each reads up to 10,001 jobs per state, 150-200 ms at 10M jobs, too much
# to run every LIVE_SECONDS for every open tab.
CAPPED_COUNT_SECONDS = 30


class LiveForm(forms.Form):
    """The live refresh's parameters beyond the list's filter: the newest job
    the page shows (`since`, empty when it shows none) and the jobs it
    watches (at most a page of them)."""

    since = JobKeyField(required=False)
    watch = JobKeyListField(required=False)
    # When this page's capped counts were last taken (UTC ms), if they were.
    counted = forms.IntegerField(required=False, min_value=0)

    def clean_watch(self) -> list[str]:
        return [str(key) for key in self.cleaned_data["watch"][:PAGE_SIZE]]


class TagSuggestionsForm(forms.Form):
    """What was typed in the has/lacks tag field."""

    has_tag = forms.CharField(required=False, max_length=MAX_TEXT)
    lacks_tag = forms.CharField(required=False, max_length=MAX_TEXT)


@login_required
def home(request):
    """The project picker; with a single project, straight to its jobs."""
    projects = list(visible_projects(request.user))
    if len(projects) == 1:
        return redirect(job_list_url(projects[0]))
    links = [(project, job_list_url(project)) for project in projects]
    return render(request, "jobs/home.html", {"projects": projects, "project_links": links})


def local_input(ms: int | None) -> str:
    """A datetime-local input's value for UTC milliseconds, in the user's zone."""
    moment = None if ms is None else local_datetime(ms)
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S")


def state_chips(counts: StateCounts | None, selected: list[str]) -> list[dict]:
    return [
        {
            "state": state,
            "checked": state in selected,
            "count": None if counts is None else counts.text(state),
        }
        for state in STATES
    ]


# Chip texts that differ from the badges, so no chip reads like a state chip
# ("finished") or like another field's label.
OUTCOME_CHIP_TEXTS = {"finished": "clean finish", "limit": "limit"}


def outcome_chips(selected: list[str]) -> list[dict]:
    return [
        {
            "value": outcome.value,
            "label": OUTCOME_CHIP_TEXTS.get(outcome.value, outcome.label),
            "title": outcome.description,
            "checked": outcome.value in selected,
        }
        for outcome in OUTCOMES
    ]


def listing_context(request, listing: ListRequest, *, inline_chart: bool = True) -> dict:
    """Everything the job list shows. The chart is drawn at once only with
    `inline_chart`, on the first page, and when the daily figures answer
    the filter; otherwise it is left to its own request (job_list_chart),
    so that the rows never wait for it: a filter change, a deeper page (the
    chart is the filter's newest days whatever the page, and on the first
    page the newest row says which), or several tags, whose chart reads
    every job of its 30 days (a second at 10M jobs)."""
    project, query = listing.project, listing.query
    spider_names = cached_spider_names(project)
    context = {
        "project": project,
        "query": query,
        "errors": listing.messages,
        "zone": zone_name(),
        "spider_options": sorted(spider_names.values()),
        "tag_options": Tag.objects.suggestions(project),
        "presets": [(value, label) for value, (label, _) in PRESETS.items()],
        "live_seconds": LIVE_SECONDS,
        "all_states_url": job_list_url(project),
        "clear_url": job_list_url(project),
        "rows": [],
        # As typed, so that an invalid filter keeps the rest of the form.
        "selected_spiders": query.getlist("spider"),
        "has_tags": query.getlist("has_tag"),
        "lacks_tags": query.getlist("lacks_tag"),
        "outcomes": outcome_chips(query.getlist("outcome")),
        "spiders_url": reverse("spiders", kwargs={"project_id": project.pk}),
        "alerts_url": reverse("alerts", kwargs={"project_id": project.pk}),
    }
    if not listing.valid:
        context["states"] = state_chips(None, query.getlist("state"))
        return context
    jobfilter, cleaned, filters = listing.jobfilter, listing.cleaned, listing.filters
    # Capped counts (several tags, say) read up to 10,001 jobs per state:
    # 150-190 ms at 10M against 2 ms for the rows. The page draws its rows
    # without them, and its live refresh brings them at once.
    counts = exact_state_counts(jobfilter)
    page = page_of(jobfilter.qs, listing.cursor)
    links = FilterLinks(project, filters)
    usual = usual_for_rows(page.rows)
    shown = [row_of(row, spider_names, listing.now, links, usual.get(row["id"])) for row in page.rows]
    chart = None
    draw_chart = inline_chart and listing.first_page and jobfilter.answered_by_days()
    if draw_chart:
        # The newest row is the filter's newest job.
        chart = chart_of(daily_figures(jobfilter, page.rows[0]["ts"] if page.rows else None))

    def page_url(**cursor):
        page_query = filters.copy()
        for name, key in cursor.items():
            page_query[name] = key
        return with_query(links.path, page_query)

    live = filters.copy()
    if listing.first_page:
        live["since"] = page.rows[0]["key"] if page.rows else ""
    # Keys for URLs come from the rows as read; the shown ones are escaped for HTML.
    live.setlist("watch", [row["key"] for row in page.rows if row["state"] in LIVE_STATES])
    project_url = {"project_id": project.pk}
    context.update(
        {
            "rows": shown,
            "states": state_chips(counts, jobfilter.states),
            "counts_pending": counts is None,
            # Counts without any filter but states that are all zero: no jobs at all.
            "project_empty": counts is not None
            and jobfilter.counted_by_counters()
            and not jobfilter.spider_names
            and not any(counts.counts.values()),
            "api_root": request.build_absolute_uri("/"),
            "count": PENDING_COUNT if counts is None else counts.matching(jobfilter.states),
            "selected_spiders": cleaned.get("spider") or [],
            "has_tags": cleaned.get("has_tag") or [],
            "lacks_tags": cleaned.get("lacks_tag") or [],
            "from_value": local_input(cleaned.get("startts")),
            "to_value": local_input(cleaned.get("endts")),
            "first_page": listing.first_page,
            "newer_url": page.newer and page.rows and page_url(after=page.rows[0]["key"]),
            "older_url": page.older and page.rows and page_url(before=page.rows[-1]["key"]),
            "first_url": page_url(),
            "live_url": with_query(reverse("job-list-live", kwargs=project_url), live),
            "chart": chart,
            "chart_url": None
            if draw_chart or not shown
            else with_query(reverse("job-list-chart", kwargs=project_url), filters),
            "csv_url": with_query(reverse("job-export-csv", kwargs=project_url), filters),
            "jsonl_url": with_query(reverse("job-export-jsonl", kwargs=project_url), filters),
            "snippets": api_snippets(
                base_url=request.build_absolute_uri("/"),
                list_path=reverse("jobq-list", kwargs=project_url),
                project_id=project.pk,
                filters=filters,
            ),
        }
    )
    return context


def same_query(query: QueryDict, params: QueryDict) -> bool:
    return sorted(query.lists()) == sorted(params.lists())


@login_required
@require_GET
@vary_on_headers("HX-Request")
def job_list(request, project_id):
    """The jobs of a project, filtered like /jobq/<p>/list, newest first.

    Plain GETs with form-only inputs (from/to/range) redirect to the
    canonical URL; htmx requests get the listing partial and the canonical
    URL pushed into the address bar."""
    project = project_for_user(request.user, project_id)
    listing = parse_list_request(project, request.GET, now=now_ms())
    canonical = with_query(request.path, listing.query)
    partial = request.htmx and not request.htmx.history_restore_request
    if not partial and not listing.time_errors and not same_query(listing.query, request.GET):
        return redirect(canonical)
    context = listing_context(request, listing, inline_chart=not partial)
    if partial:
        return push_url(render(request, "jobs/job_list.html#listing", context), canonical)
    context["project_links"] = [(other, job_list_url(other)) for other in visible_projects(request.user)]
    return render(request, "jobs/job_list.html", context)


@login_required
@require_GET
def job_list_live(request, project_id):
    """The refresh of a job list, polled every few seconds: the rows of the
    jobs shown pending or running when the page was drawn (`watch=`, kept
    after they finish so they never count as new), the state counts, and how
    many other jobs are newer than the newest shown (`since=`, first page only).

    Counts that no counter answers are capped counts of the jobs: taken at
    most every CAPPED_COUNT_SECONDS, the time of the last one carried in the
    next refresh's URL (`counted=`)."""
    project = project_for_user(request.user, project_id)
    listing = parse_list_request(project, request.GET, now=now_ms())
    form = LiveForm(request.GET)
    if not listing.valid or not form.is_valid():
        return bad_request(listing.errors + form_errors(form))
    jobfilter = listing.jobfilter
    live_query = request.GET.copy()
    counts = exact_state_counts(jobfilter)
    counted = form.cleaned_data["counted"]
    if counts is None and (counted is None or not 0 <= listing.now - counted < CAPPED_COUNT_SECONDS * 1000):
        counts = capped_state_counts(jobfilter)
        live_query["counted"] = str(listing.now)
    watched = form.cleaned_data["watch"]
    rows = []
    if watched:
        spider_names = cached_spider_names(project)
        found = list(
            Job.objects.for_project(project).filter(key__in=watched).values(*ROW_COLUMNS, **ROW_EXPRESSIONS)
        )
        links = FilterLinks(project, listing.filters)
        usual = usual_for_rows(found)
        rows = [row_of(row, spider_names, listing.now, links, usual.get(row["id"])) for row in found]
    new = None
    if "since" in request.GET:
        since = form.cleaned_data["since"]
        new = new_jobs_count(jobfilter.qs, project, since and str(since), watched)
    context = {
        "project": project,
        "rows": rows,
        # No counts: the page keeps those it shows until the next capped count.
        "states": None if counts is None else state_chips(counts, jobfilter.states),
        "count": None if counts is None else counts.matching(jobfilter.states),
        "new": new,
        "new_text": f"{NEW_JOBS_CAP}+" if new and new > NEW_JOBS_CAP else str(new),
        "live_url": f"{request.path}?{live_query.urlencode()}",
        "live_seconds": LIVE_SECONDS,
        "zone": zone_name(),
        "first_url": with_query(reverse("job-list", kwargs={"project_id": project.pk}), listing.filters),
    }
    return render(request, "jobs/job_list.html#live-update", context)


@login_required
@require_GET
def job_list_chart(request, project_id):
    """The jobs-per-day chart of a job list's filter, fetched by htmx after
    the rows (from the daily figures; with a tag filter, from the jobs of its days)."""
    project = project_for_user(request.user, project_id)
    listing = parse_list_request(project, request.GET, now=now_ms())
    if not listing.valid:
        return bad_request(listing.errors)
    queryset = listing.jobfilter.qs
    context = {
        "chart": chart_of(daily_figures(listing.jobfilter, newest_ts_of(queryset))),
        "zone": zone_name(),
    }
    return render(request, "jobs/job_list.html#chart", context)


@login_required
@require_GET
def job_list_tags(request, project_id):
    """Tag suggestions for the has/lacks tag fields, for projects with more
    tags than the page lists: the project's tags containing what was typed."""
    project = project_for_user(request.user, project_id)
    form = TagSuggestionsForm(request.GET)
    if not form.is_valid():
        return bad_request(form_errors(form))
    names = Tag.objects.suggestions(project, form.cleaned_data["has_tag"] or form.cleaned_data["lacks_tag"])
    return render(request, "jobs/job_list.html#tag-options", {"tag_options": names})

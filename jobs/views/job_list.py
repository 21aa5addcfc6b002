"""HTML pages: the project picker and the job list. The JobQ API lives in
jobq_views.py; the job detail, bulk actions and key pages in views_*.py.

Every view and partial checks access itself (`project_for_user`): htmx
fetches partials on their own, so a template is never the gatekeeper.
"""

import csv
import datetime
import shlex

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from .access import project_for_user, visible_projects
from .filters import JobFilter
from .jobmeta import LIST_COLUMNS, MAX_TEXT, dumps_line, list_line, now_ms
from .keys import parse_job_key
from .models import STATES, Job, JobCount, Spider, State, Tag
from .timezones import duration, local_datetime, ms_from_local, relative, utc_offset_ms, zone_name

PAGE_SIZE = 50
# Above this many matches the page says "10,000+" instead of counting on.
COUNT_CAP = 10_000
NEW_JOBS_CAP = 99
CHART_DAYS = 30
# Seconds between refreshes of live rows, state counts and the new-jobs notice.
LIVE_SECONDS = 5
TAG_SUGGESTIONS = 500
DAY_MS = 86_400_000

# Parameters a job list URL keeps: the JobQ filters, then the page cursor.
FILTER_PARAMS = ("spider", "state", "startts", "endts", "has_tag", "lacks_tag")
CURSOR_PARAMS = ("before", "after")
# Form-only inputs that the view turns into startts/endts.
TIME_INPUTS = ("from", "to", "range")
PRESETS = {
    "1h": ("Last hour", 3_600_000),
    "24h": ("24 h", DAY_MS),
    "7d": ("7 days", 7 * DAY_MS),
    "30d": ("30 days", 30 * DAY_MS),
}
# What the picker and the "all states" chip link to: every live state,
# spelled out so the URL says what it shows (and stays an API query).
ALL_STATES = (State.PENDING, State.RUNNING, State.FINISHED)
LIVE_STATES = (State.PENDING, State.RUNNING)
ROW_COLUMNS = (*LIST_COLUMNS, "deleted_time")
LOCAL_INPUT_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


def job_list_url(project, states=ALL_STATES):
    query = QueryDict(mutable=True)
    query.setlist("state", list(states))
    return f"{reverse('job-list', kwargs={'project_id': project.pk})}?{query.urlencode()}"


@login_required
def home(request):
    """The project picker; with a single project, straight to its jobs."""
    projects = list(visible_projects(request.user))
    if len(projects) == 1:
        return redirect(job_list_url(projects[0]))
    links = [(project, job_list_url(project)) for project in projects]
    return render(request, "jobs/home.html", {"projects": projects, "project_links": links})


# --- the query string -------------------------------------------------------


def parse_local(text):
    for fmt in LOCAL_INPUT_FORMATS:
        try:
            return datetime.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def canonical_query(params, *, now):
    """(query, errors): the job list's query string with the form-only time
    inputs (`from`, `to` in the user's zone, `range` presets) turned into
    the JobQ `startts`/`endts`, empty values and unknown parameters dropped,
    parameters in a fixed order. A canonical URL is a valid JobQ /list
    query plus an optional cursor."""
    values = {}
    errors = []
    for name in FILTER_PARAMS + CURSOR_PARAMS:
        found = [value for value in params.getlist(name) if value.strip()]
        if found:
            values[name] = found
    preset = params.get("range", "")
    if preset in PRESETS:
        values["startts"] = [str(now - PRESETS[preset][1])]
        values.pop("endts", None)
    else:
        for name, param in (("from", "startts"), ("to", "endts")):
            if name not in params:
                continue
            text = params.get(name, "").strip()
            value = parse_local(text) if text else None
            if not text:
                values.pop(param, None)
            elif value is None:
                errors.append(f"{text[:40]!r} is not a date and time (YYYY-MM-DD HH:MM).")
            else:
                values[param] = [str(ms_from_local(value))]
    query = QueryDict(mutable=True)
    for name in FILTER_PARAMS + CURSOR_PARAMS:
        if name in values:
            query.setlist(name, values[name])
    return query, errors


def same_query(query, params):
    return sorted(query.lists()) == sorted(params.lists())


# --- the page ---------------------------------------------------------------


class Cursor:
    """The keyset cursor of ?before=<key> / ?after=<key>, looked up by key."""

    def __init__(self, project, query):
        self.direction = None
        self.key = None
        self.error = None
        for direction in CURSOR_PARAMS:
            if direction in query:
                self.direction, self.key = direction, query[direction]
                break
        if self.direction is None:
            return
        try:
            key = parse_job_key(self.key)
        except ValueError as exc:
            self.error, self.direction = str(exc), None
            return
        self.position = Job.objects.filter(project=project, key=str(key)).values_list("ts", "id").first()
        if self.position is None:
            self.error = f"Job {key} no longer exists; showing the newest jobs."
            self.direction = None


def page_of(queryset, cursor):
    """(rows, newer, older): one page of rows and whether pages exist on each side."""
    columns = ROW_COLUMNS
    if cursor.direction == "before":
        rows = list(queryset.before_key(*cursor.position).newest_first().values(*columns)[: PAGE_SIZE + 1])
        return rows[:PAGE_SIZE], True, len(rows) > PAGE_SIZE
    if cursor.direction == "after":
        rows = list(
            queryset.after_key(*cursor.position).order_by("ts", "id").values(*columns)[: PAGE_SIZE + 1]
        )
        if len(rows) > PAGE_SIZE:
            return rows[:PAGE_SIZE][::-1], True, True
        cursor.direction = None  # reached the newest jobs: that is the first page
    rows = list(queryset.newest_first().values(*columns)[: PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], False, len(rows) > PAGE_SIZE


def time_cell(ms, now):
    if ms is None:
        return None
    moment = local_datetime(ms)
    return {"text": moment.strftime("%Y-%m-%d %H:%M:%S"), "iso": moment.isoformat(), "ago": relative(ms, now)}


def number(value):
    return "" if value is None else f"{value:,}"


def detail_url(project, key):
    _, spider_number, job_number = key.split("/")
    return reverse(
        "job-detail",
        kwargs={"project_id": project.pk, "spider_number": int(spider_number), "job_number": int(job_number)},
    )


def with_query(path, query):
    return f"{path}?{query.urlencode()}" if query else path


def local_input(ms):
    """A datetime-local input's value for UTC milliseconds, in the user's zone."""
    return "" if ms is None else local_datetime(ms).strftime("%Y-%m-%dT%H:%M:%S")


def filters_of(query):
    """The JobQ filter part of a canonical query (no cursor)."""
    filters = QueryDict(mutable=True)
    for name in FILTER_PARAMS:
        if name in query:
            filters.setlist(name, query.getlist(name))
    return filters


class FilterLinks:
    """The list's URL with one more filter value (a row's tag or spider),
    built once per value: rows repeat the same few tags."""

    def __init__(self, project, query):
        self.path = reverse("job-list", kwargs={"project_id": project.pk})
        self.filters = filters_of(query)
        self.urls = {}

    def adding(self, name, value):
        url = self.urls.get((name, value))
        if url is None:
            query = QueryDict(mutable=True)  # in the canonical order
            for param in FILTER_PARAMS:
                values = self.filters.getlist(param)
                if param == name and value not in values:
                    values = [*values, value]
                if values:
                    query.setlist(param, values)
            url = self.urls[name, value] = f"{self.path}?{query.urlencode()}"
        return url


def row_of(project, row, spider_names, now, links):
    """A job row as the template shows it, formatted here: row templates
    stay lean (100 rows cost 16-20 ms of rendering even so)."""
    state = row["state"]
    started, finished = row["running_time"], row["finished_time"]
    if started is not None and finished is not None:
        took = duration(finished - started)
    elif started is not None and state == State.RUNNING:
        took = duration(now - started)
    else:
        took = ""
    return {
        "id": row["id"],
        "key": row["key"],
        "url": detail_url(project, row["key"]),
        "spider": spider_names.get(row["spider_id"], ""),
        "spider_url": links.adding("spider", spider_names.get(row["spider_id"], "")),
        "state": state,
        "live": state in LIVE_STATES,
        "close_reason": row["close_reason"] or "",
        "items": number(row["items"]),
        "pages": number(row["pages"]),
        "errors": number(row["errors"]),
        "error_count": row["errors"] or 0,
        "duration": took,
        "queued": time_cell(row["pending_time"], now),
        "started": time_cell(started, now),
        "finished": time_cell(finished or row["deleted_time"], now),
        "tags": [(tag, links.adding("has_tag", tag)) for tag in row["tags"]],
    }


def state_counts(jobfilter, project):
    """({state: n}, capped): per-state counts for the filter without its state
    part. Exact from the counters when only spiders filter; otherwise one
    capped count per state (each stops after COUNT_CAP + 1 rows)."""
    if jobfilter.counted_by_counters():
        return JobCount.objects.by_state(project, spider_names=jobfilter.spider_names or None), False
    every_state = jobfilter.data.copy()
    every_state.setlist("state", STATES)
    every_state = JobFilter(every_state, project=project)
    every_state.is_valid()
    queryset = every_state.qs
    return {state: queryset.filter(state=state).capped_count(COUNT_CAP) for state in STATES}, True


def count_text(n, capped):
    return f"{COUNT_CAP:,}+" if capped and n > COUNT_CAP else f"{n:,}"


def state_chips(counts, selected, capped):
    return [
        {
            "state": state,
            "checked": state in selected,
            "count": None if counts is None else count_text(counts[state], capped),
        }
        for state in STATES
    ]


def match_count(counts, states, capped):
    total = sum(counts[state] for state in states)
    over = capped and any(counts[state] > COUNT_CAP for state in states)
    # Below the cap every count is exact, and so is their sum.
    return {"n": total, "over": over, "text": f"{COUNT_CAP:,}+" if over else f"{total:,}"}


def chart_of(queryset, data, newest_ts):
    """The jobs-per-day SVG bars, by state, for CHART_DAYS days of the filter
    ending at its `endts`, or at its newest job, in the user's zone. Bounded
    in time: this reads every matching job of those days."""
    if newest_ts is None:
        return None
    offset = utc_offset_ms()
    end = data["endts"] if data.get("endts") is not None else newest_ts + 1
    last_day = (end - 1 + offset) // DAY_MS
    first_day = last_day - CHART_DAYS + 1
    start = first_day * DAY_MS - offset
    if data.get("startts") is not None and data["startts"] > start:
        first_day = (data["startts"] + offset) // DAY_MS
        start = max(start, data["startts"])
    days = {}
    for day, state, n in queryset.filter(ts__gte=start, ts__lt=end).per_day_by_state(offset_ms=offset):
        days.setdefault(day, dict.fromkeys(STATES, 0))[state] = n
    count = last_day - first_day + 1
    if count <= 0:
        return None
    peak = max((sum(day.values()) for day in days.values()), default=0)
    width, height, gap = 100 / count, 100, 0.15
    bars = []
    for index in range(count):
        day = first_day + index
        values = days.get(day, dict.fromkeys(STATES, 0))
        date = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
        total = sum(values.values())
        y = height
        parts = []
        for state in (State.FINISHED, State.RUNNING, State.PENDING, State.DELETED):
            if values[state] and peak:
                h = values[state] / peak * height
                y -= h
                parts.append({"state": state, "y": round(y, 3), "h": round(h, 3)})
        summary = ", ".join(f"{values[s]:,} {s}" for s in STATES if values[s]) or "no jobs"
        bars.append(
            {
                "x": round(index * width + width * gap / 2, 3),
                "w": round(width * (1 - gap), 3),
                "parts": parts,
                "title": f"{date:%a %Y-%m-%d}: {summary}",
                "total": total,
                "label": f"{date:%b %-d}" if index in (0, count // 2, count - 1) else "",
                "label_x": round(index * width + width / 2, 3),
            }
        )
    return {"bars": bars, "peak": peak, "days": count, "total": sum(sum(d.values()) for d in days.values())}


def newest_ts_of(queryset):
    """The `ts` of the newest job of a filter: one step down an index."""
    return queryset.newest_first().values_list("ts", flat=True).first()


def api_snippets(request, project, query):
    """The JobQ /list call for the current filters, as curl and as Python."""
    filters = filters_of(query)
    spiders = filters.getlist("spider") or [None]
    base = request.build_absolute_uri("/")
    path = reverse("jobq-list", kwargs={"project_id": project.pk})
    curls = []
    for spider in spiders:
        one = filters.copy()
        if spider is not None:
            one.setlist("spider", [spider])
        url = base.rstrip("/") + path + (f"?{one.urlencode()}" if one else "")
        curls.append(f'curl -u "$SHUB_APIKEY:" {shlex.quote(url)}')
    kwargs = []
    for name in ("state", "startts", "endts", "has_tag", "lacks_tag"):
        values = filters.getlist(name)
        if name in ("startts", "endts") and values:
            kwargs.append(f"{name}={int(values[0])}")
        elif values:
            kwargs.append(f"{name}={values!r}")
    lines = [
        "import os",
        "from scrapinghub import ScrapinghubClient",
        "",
        f'client = ScrapinghubClient(os.environ["SHUB_APIKEY"], endpoint={base!r})',
        f"jobs = client.get_project({project.pk}).jobs",
    ]
    args = ", ".join(kwargs)
    if spiders == [None]:
        lines.append(f"for job in jobs.iter({args}):")
    else:
        lines.append(f"for spider in {list(spiders)!r}:")
        lines.append(f"    for job in jobs.iter(spider=spider{', ' + args if args else ''}):")
        lines.append("        print(job)")
        return {"curl": "\n".join(curls), "python": "\n".join(lines)}
    lines.append("    print(job)")
    return {"curl": "\n".join(curls), "python": "\n".join(lines)}


def listing_context(request, project, query, errors, *, inline_chart=True):
    """Everything the job list shows for a canonical query. Without
    `inline_chart` the chart is left to its own request (job_list_chart),
    so a filter change shows the rows without waiting for it."""
    now = now_ms()
    jobfilter = JobFilter(query, project=project)
    spider_names = Spider.objects.names(project)
    context = {
        "project": project,
        "query": query,
        "jobfilter": jobfilter,
        "errors": list(errors),
        "zone": zone_name(),
        "spider_options": sorted(spider_names.values()),
        "tag_options": list(
            Tag.objects.filter(project=project)
            .order_by("name")
            .values_list("name", flat=True)[:TAG_SUGGESTIONS]
        ),
        "presets": [(value, label) for value, (label, _) in PRESETS.items()],
        "live_seconds": LIVE_SECONDS,
        "all_states_url": job_list_url(project),
        "clear_url": job_list_url(project),
        "rows": [],
        # As typed, so that an invalid filter keeps the rest of the form.
        "selected_spiders": query.getlist("spider"),
        "has_tags": query.getlist("has_tag"),
        "lacks_tags": query.getlist("lacks_tag"),
    }
    if not jobfilter.is_valid():
        for field, field_errors in jobfilter.form.errors.items():
            context["errors"] += [f"{field}: {error}" for error in field_errors]
        context["states"] = state_chips(None, query.getlist("state"), False)
        return context
    data = jobfilter.form.cleaned_data
    cursor = Cursor(project, query)
    if cursor.error:
        context["errors"].append(cursor.error)
    counts, capped = state_counts(jobfilter, project)
    selected = jobfilter.states
    queryset = jobfilter.qs
    rows, newer, older = page_of(queryset, cursor)
    links = FilterLinks(project, query)
    shown = [row_of(project, row, spider_names, now, links) for row in rows]
    if not inline_chart:
        chart = None
    elif cursor.direction is None:
        chart = chart_of(queryset, data, rows[0]["ts"] if rows else None)
    else:
        chart = chart_of(queryset, data, newest_ts_of(queryset))
    filters = filters_of(query)
    list_path = links.path

    def page_url(**cursor_param):
        page = filters.copy()
        for name, value in cursor_param.items():
            page[name] = value
        return with_query(list_path, page)

    live = QueryDict(mutable=True)
    live.update(filters)
    if cursor.direction is None:
        live["since"] = rows[0]["key"] if rows else ""
    live.setlist("watch", [row["key"] for row in shown if row["live"]])
    project_url = {"project_id": project.pk}
    context.update(
        {
            "rows": shown,
            "states": state_chips(counts, selected, capped),
            "counts_capped": capped,
            "project_empty": not capped and not jobfilter.spider_names and not any(counts.values()),
            "api_root": request.build_absolute_uri("/"),
            "count": match_count(counts, selected, capped),
            "selected_spiders": data.get("spider") or [],
            "has_tags": data.get("has_tag") or [],
            "lacks_tags": data.get("lacks_tag") or [],
            "from_value": local_input(data.get("startts")),
            "to_value": local_input(data.get("endts")),
            "first_page": cursor.direction is None,
            "newer_url": newer and shown and page_url(after=shown[0]["key"]),
            "older_url": older and shown and page_url(before=shown[-1]["key"]),
            "first_url": page_url(),
            "live_url": with_query(reverse("job-list-live", kwargs=project_url), live),
            "chart": chart,
            "chart_url": None
            if inline_chart or not shown
            else with_query(reverse("job-list-chart", kwargs=project_url), filters),
            "csv_url": with_query(reverse("job-export-csv", kwargs=project_url), filters),
            "jsonl_url": with_query(reverse("job-export-jsonl", kwargs=project_url), filters),
            "snippets": api_snippets(request, project, query),
        }
    )
    return context


@login_required
@require_GET
@vary_on_headers("HX-Request")
def job_list(request, project_id):
    """The jobs of a project, filtered like /jobq/<p>/list, newest first.

    Plain GETs with form-only inputs (from/to/range) redirect to the
    canonical URL; htmx requests get the listing partial and the canonical
    URL pushed into the address bar."""
    project = project_for_user(request.user, project_id)
    query, errors = canonical_query(request.GET, now=now_ms())
    canonical = f"{request.path}?{query.urlencode()}" if query else request.path
    partial = request.htmx and not request.htmx.history_restore_request
    if not partial and not errors and not same_query(query, request.GET):
        return redirect(canonical)
    context = listing_context(request, project, query, errors, inline_chart=not partial)
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
    many other jobs are newer than the newest shown (`since=`, first page only)."""
    project = project_for_user(request.user, project_id)
    query, _ = canonical_query(request.GET, now=now_ms())
    jobfilter = JobFilter(query, project=project)
    if not jobfilter.is_valid():
        return HttpResponse(status=204)  # the page shows the form error already
    now = now_ms()
    counts, capped = state_counts(jobfilter, project)
    watched = [key for key in request.GET.getlist("watch")[:PAGE_SIZE] if key]
    rows = []
    if watched:
        spider_names = Spider.objects.names(project)
        found = Job.objects.for_project(project).filter(key__in=watched).values(*ROW_COLUMNS)
        links = FilterLinks(project, query)
        rows = [row_of(project, row, spider_names, now, links) for row in found]
    new = None
    if "since" in request.GET:
        queryset = jobfilter.qs
        since = request.GET["since"]
        position = since and Job.objects.filter(project=project, key=since).values_list("ts", "id").first()
        if position:
            queryset = queryset.after_key(*position)
        if watched:
            # A watched job that finishes moves to the top, but it is on the page already.
            queryset = queryset.exclude(key__in=watched)
        new = queryset.capped_count(NEW_JOBS_CAP) if position or not since else 0
    live = request.GET.copy()
    context = {
        "project": project,
        "rows": rows,
        "states": state_chips(counts, jobfilter.states, capped),
        "count": match_count(counts, jobfilter.states, capped),
        "new": new,
        "new_text": f"{NEW_JOBS_CAP}+" if new and new > NEW_JOBS_CAP else str(new),
        "live_url": f"{request.path}?{live.urlencode()}",
        "live_seconds": LIVE_SECONDS,
        "zone": zone_name(),
    }
    filters = filters_of(query)
    context["first_url"] = reverse("job-list", kwargs={"project_id": project.pk}) + (
        f"?{filters.urlencode()}" if filters else ""
    )
    return render(request, "jobs/job_list.html#live-update", context)


@login_required
@require_GET
def job_list_chart(request, project_id):
    """The jobs-per-day chart of a job list's filter, fetched by htmx after
    the rows (it reads every job of its days)."""
    project = project_for_user(request.user, project_id)
    query, _ = canonical_query(request.GET, now=now_ms())
    jobfilter = JobFilter(query, project=project)
    if not jobfilter.is_valid():
        return HttpResponse("")
    queryset = jobfilter.qs
    context = {
        "chart": chart_of(queryset, jobfilter.form.cleaned_data, newest_ts_of(queryset)),
        "states": state_chips(None, jobfilter.states, False),
        "zone": zone_name(),
    }
    return render(request, "jobs/job_list.html#chart", context)


@login_required
@require_GET
def job_list_tags(request, project_id):
    """Tag suggestions for the has/lacks tag fields, for projects with more
    tags than the page lists: the project's tags containing what was typed."""
    project = project_for_user(request.user, project_id)
    typed = (request.GET.get("has_tag") or request.GET.get("lacks_tag") or "").strip()[:MAX_TEXT]
    tags = Tag.objects.filter(project=project).order_by("name")
    if typed:
        tags = tags.filter(name__icontains=typed)
    names = list(tags.values_list("name", flat=True)[:TAG_SUGGESTIONS])
    return render(request, "jobs/job_list.html#tag-options", {"tag_options": names})


# --- exports ------------------------------------------------------------------

CSV_COLUMNS = (
    "key",
    "spider",
    "state",
    "close_reason",
    "items",
    "pages",
    "errors",
    "pending_time",
    "running_time",
    "finished_time",
    "ts",
    "tags",
)


# A cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Text that a spreadsheet shows as text, never runs (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class Echo:
    """A file-like object whose write returns the line: csv.writer for streaming."""

    def write(self, value):
        return value


def export_rows(request, project):
    """(rows, spider_names) of every job matching the filters, or a 400 response."""
    query, errors = canonical_query(request.GET, now=now_ms())
    jobfilter = JobFilter(query, project=project)
    if errors or not jobfilter.is_valid():
        messages = errors + [f"{f}: {e}" for f, es in jobfilter.form.errors.items() for e in es]
        return None, HttpResponse(
            "\n".join(messages) + "\n", status=400, content_type="text/plain; charset=utf-8"
        )
    rows = jobfilter.qs.newest_first().values(*LIST_COLUMNS)
    return rows, Spider.objects.names(project)


def streamed(generate_lines):
    """Run the row iterator inside a transaction: outside one, Django declares
    the cursor WITH HOLD and PostgreSQL materialises every row before the
    first byte (see ../shared/performance.md)."""
    with transaction.atomic():
        yield from generate_lines()


def download(generate_lines, project, content_type, extension):
    """A streamed attachment named after the project and the time."""
    response = StreamingHttpResponse(streamed(generate_lines), content_type=content_type)
    filename = f"jobq-{project.pk}-{timezone.now():%Y%m%d-%H%M%S}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def job_export_csv(request, project_id):
    """Every job matching the filters as CSV, streamed; times in UTC ms as the API has them."""
    project = project_for_user(request.user, project_id)
    rows, names = export_rows(request, project)
    if rows is None:
        return names
    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for row in rows.iterator(chunk_size=2000):
            line = {**row, "spider": names.get(row["spider_id"], "")}
            # A JSON array: tags may hold commas and spaces.
            line["tags"] = dumps_line(row["tags"]).decode().strip() if row["tags"] else ""
            yield writer.writerow([spreadsheet_safe(line.get(c)) for c in CSV_COLUMNS])

    return download(lines, project, "text/csv; charset=utf-8", "csv")


@login_required
@require_GET
def job_export_jsonl(request, project_id):
    """Every job matching the filters as JSON lines, shaped like /jobq/<p>/list lines."""
    project = project_for_user(request.user, project_id)
    rows, names = export_rows(request, project)
    if rows is None:
        return names
    now = now_ms()

    def lines():
        for row in rows.iterator(chunk_size=2000):
            yield dumps_line(list_line(row, names, now))

    return download(lines, project, "application/x-jsonlines; charset=utf-8", "jsonl")

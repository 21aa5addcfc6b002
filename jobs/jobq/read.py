"""The JobQ read API: count, list, summary, jobsummary and spider ids.

Filters are the one JobFilter the dashboard uses too; an invalid parameter
is a 400 naming it, never ignored.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase

from ..filters import JobFilter, ListParamsForm
from ..jobmeta import MAX_TEXT, columns_for, dumps_line, list_line, now_ms
from ..models import STATES, Job, JobCount, JobQuerySet, Project, Spider, State
from ..ops.replicas import stream_reads
from ..spidernames import spider_names
from .auth import ApiRequest, jobq_endpoint, project_for
from .crosssite import refuse_browser_signals
from .errors import bad_parameter, forbidden
from .listplans import ListPlan, list_plan
from .responses import CompiledRows, batched, json_response, jsonlines_response

DEFAULT_LIST_COUNT = 1000
DEFAULT_SUMMARY_COUNT = 5
SUMMARY_QUEUES = (State.PENDING, State.RUNNING, State.FINISHED)
SCALAR_PARAMS = ("spider", "startts", "endts", "count", "start", "stop")
# Pages this small come faster fetched whole than through a server-side cursor.
STREAM_ABOVE = 1000
# From this offset on, skip rows in an index-only subquery of ids (a deferred join).
DEFERRED_JOIN_FROM = 1000


def reject_conflicting_scalars(params: QueryDict, names: tuple[str, ...]) -> None:
    """A scalar parameter given twice with different values is a 400."""
    for name in names:
        values = params.getlist(name)
        if len(set(values)) > 1:
            raise bad_parameter(name, f"{name} was given more than once with different values.")


def first_error(form: forms.Form) -> tuple[str | None, str]:
    """(parameter, message) of a form's first error, for a 400."""
    for field, errors in form.errors.items():
        return field, f"{field}: {' '.join(str(error) for error in errors)}"
    return None, "invalid parameters"


def valid_filter(request: HttpRequest, project: Project) -> JobFilter:
    reject_conflicting_scalars(request.GET, SCALAR_PARAMS)
    jobfilter = JobFilter(request.GET, project=project)
    if not jobfilter.is_valid():
        raise bad_parameter(*first_error(jobfilter.form))
    return jobfilter


def valid_list_params(request: HttpRequest, project: Project) -> dict[str, Any]:
    reject_conflicting_scalars(request.GET, SCALAR_PARAMS)
    params = ListParamsForm(request.GET, project=project)
    if not params.is_valid():
        raise bad_parameter(*first_error(params))
    return params.cleaned_data


def window(queryset: JobQuerySet, *, start: int, count: int) -> JobQuerySet:
    """Rows start..start+count of a newest-first queryset."""
    queryset = queryset.newest_first()
    if start >= DEFERRED_JOIN_FROM:
        ids = queryset.values("pk")[start : start + count]
        return Job.objects.filter(pk__in=ids).newest_first()
    return queryset[start : start + count]


def stream_lines(
    rows: CompiledRows, spider_names: Mapping[int, str], jobmeta: Sequence[str], *, stream: bool
) -> list[bytes] | Iterator[bytes]:
    """Encode rows as list lines; a stream reads inside a transaction on the
    request's database (replicas.stream_reads)."""
    now = now_ms()
    if not stream:
        return [dumps_line(list_line(row, spider_names, now, jobmeta)) for row in rows.fetch()]

    def generate() -> Iterator[bytes]:
        lines = (dumps_line(list_line(row, spider_names, now, jobmeta)) for row in rows.stream())
        yield from batched(lines)

    return stream_reads(generate)


@jobq_endpoint("GET")
def jobq_count(request: ApiRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    jobfilter = valid_filter(request, project)
    return json_response(jobfilter.count())


@jobq_endpoint("GET")
def jobq_list(request: ApiRequest, project_id: int) -> HttpResponseBase:
    project = project_for(request, project_id)
    names = spider_names(project)
    plan = list_plan(request, project, names, new_list_plan)
    lines = stream_lines(plan.rows, names, plan.jobmeta, stream=plan.stream)
    return jsonlines_response(lines, stream=plan.stream)


def new_list_plan(request: HttpRequest, project: Project) -> ListPlan:
    """The list's parameters checked (400 if invalid) and its SQL compiled."""
    jobfilter = valid_filter(request, project)
    params = valid_list_params(request, project)
    queryset = jobfilter.qs
    if params["key"]:
        queryset = queryset.filter(key__in=[str(key) for key in params["key"]])
    if params["stop"]:
        # Like JobQ's queues: the listing stops at the stop job only if it is
        # still in the states listed. A job that moved on (finished -> deleted)
        # has a new ts; stopping there would skip the jobs between.
        stop = Job.objects.position(project.pk, str(params["stop"]), jobfilter.states)
        if stop is not None:
            queryset = queryset.after_key(*stop)
    count = DEFAULT_LIST_COUNT if params["count"] is None else params["count"]
    jobmeta = params["jobmeta"]
    rows = window(queryset, start=params["start"] or 0, count=count).values(*columns_for(jobmeta))
    return ListPlan(
        CompiledRows.of(rows),
        tuple(jobmeta),
        stream=count > STREAM_ABOVE,
        # Where `stop` stops was read from the jobs: that plan is for this request only.
        keep=not params["stop"],
    )


def summary_lines(
    request: HttpRequest, project: Project, states: Iterable[str], spider: Spider | None = None
) -> HttpResponseBase:
    params = valid_list_params(request, project)
    count = DEFAULT_SUMMARY_COUNT if params["count"] is None else params["count"]
    # A summary is built whole in memory (a queue per line): bounded, where
    # /list streams any count.
    if count > settings.JOBQ_SUMMARY_MAX_COUNT:
        limit = settings.JOBQ_SUMMARY_MAX_COUNT
        raise bad_parameter(
            "count",
            f"count: a summary lists at most {limit} jobs per queue; page on with start, or use /list.",
        )
    start = params["start"] or 0
    jobmeta = params["jobmeta"]
    counts = JobCount.objects.by_state(project, spider)
    names = spider_names(project)
    now = now_ms()
    jobs = Job.objects.for_project(project)
    if spider is not None:
        jobs = jobs.filter(spider=spider)
    lines = []
    for state in states:
        rows = window(jobs.filter(state=state), start=start, count=count).values(*columns_for(jobmeta))
        summary = [list_line(row, names, now, jobmeta) for row in rows]
        lines.append(dumps_line({"name": state, "count": counts[state], "summary": summary}))
    return jsonlines_response(lines)


def summary_states(state: str | None) -> tuple[str, ...]:
    if state is None:
        return SUMMARY_QUEUES
    if state not in STATES:
        raise bad_parameter("state", f"state must be one of {', '.join(STATES)}, not {state!r}.")
    return (state,)


@jobq_endpoint("GET")
def jobq_summary(request: ApiRequest, project_id: int, state: str | None = None) -> HttpResponseBase:
    project = project_for(request, project_id)
    return summary_lines(request, project, summary_states(state))


@jobq_endpoint("GET")
def jobq_spider_summary(
    request: ApiRequest, project_id: int, spider_number: int, state: str
) -> HttpResponseBase:
    project = project_for(request, project_id)
    states = summary_states(state)
    spider = Spider.objects.filter(project=project, number=spider_number).first()
    if spider is None:
        return jsonlines_response(
            [dumps_line({"name": state, "count": 0, "summary": []}) for state in states]
        )
    return summary_lines(request, project, states, spider)


@jobq_endpoint("GET")
def jobq_jobsummary(request: ApiRequest, project_id: int) -> HttpResponseBase:
    project = project_for(request, project_id)
    params = valid_list_params(request, project)
    keys = [str(key) for key in params["key"]]
    jobmeta = params["jobmeta"]
    rows = {
        row["key"]: row
        for row in Job.objects.for_project(project).filter(key__in=keys).values(*columns_for(jobmeta))
    }
    names = spider_names(project)
    now = now_ms()
    return jsonlines_response(
        [dumps_line(list_line(rows[key], names, now, jobmeta)) for key in keys if key in rows]
    )


@jobq_endpoint("GET")
def spider_id(request: ApiRequest, project_id: int, name: str) -> HttpResponse:
    """The spider's id, or null; `?create=1` gives an unknown name the next id."""
    project = project_for(request, project_id)
    if "\x00" in name or len(name) > MAX_TEXT:
        raise bad_parameter("name", f"A spider name has at most {MAX_TEXT} characters and no NUL.")
    if request.GET.get("create") in ("1", "true", "True"):
        if request.api_key.read_only:
            raise forbidden("This API key is read-only.")
        # A write by GET: an image on another site's page could ask for it.
        refuse_browser_signals(request)
        return json_response(Spider.objects.ensure(project, name).number)
    number = Spider.objects.filter(project=project, name=name).values_list("number", flat=True).first()
    return json_response(number)

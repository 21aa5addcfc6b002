"""The JobQ write API: push, startjob, update, cancel.

Every line of a body is parsed and checked before anything is written (see
`bodies`); the writes themselves are the transactions of `jobs.lifecycle`.
"""

from django.conf import settings
from django.http import HttpResponse
from django.http.response import HttpResponseBase

from ..jobmeta import MetadataError, dumps_line
from ..keys import JobKey, parse_job_key
from ..lifecycle import (
    Change,
    LifecycleError,
    PushRequest,
    UpdateRequest,
    cancel_jobs,
    metadata_change,
    push_jobs,
    push_request,
    start_next_job,
    update_jobs,
    update_request,
)
from ..models import Project
from .auth import ApiRequest, jobq_endpoint, project_for, requester
from .bodies import body_lines, line_error, parse_body, read_body, too_many_lines
from .errors import forbidden, invalid
from .responses import json_response, jsonlines_response


@jobq_endpoint("POST", write=True)
def jobq_push(request: ApiRequest, project_id: int) -> HttpResponseBase:
    project = project_for(request, project_id)
    pushes: list[PushRequest] = []
    for number, data in body_lines(read_body(request)):
        try:
            pushes.append(push_request(data, project=project))
        except MetadataError as exc:
            raise line_error(number, exc) from None
    if not pushes:
        raise invalid("The body holds no job: send one JSON line per job.")
    answers = push_jobs(project=project, pushes=pushes)
    return jsonlines_response([dumps_line(answer) for answer in answers])


@jobq_endpoint("POST", write=True)
def jobq_startjob(request: ApiRequest, project_id: int) -> HttpResponseBase:
    """The oldest pending job, now running; an empty body when none is pending.
    The body may hold one JSON line of metadata to save on the started job."""
    project = project_for(request, project_id)
    lines = body_lines(read_body(request))
    if len(lines) > 1:
        raise invalid(f"line {lines[1][0]}: startjob takes at most one line.")
    change: Change | None = None
    if lines:
        number, data = lines[0]
        try:
            change = metadata_change(data, project=project)
        except MetadataError as exc:
            raise line_error(number, exc) from None
        if change.state is not None:
            raise invalid(f"line {number}: startjob sets the state itself.", "state")
        if change.spider_name is not None:
            # Refused rather than ignored: a caller naming a spider would
            # otherwise get a job of another spider without knowing.
            raise invalid(f"line {number}: startjob starts the oldest job of any spider.", "spider")
    job = start_next_job(project=project, change=change)
    if job is None:
        return jsonlines_response([])
    return json_response(job)


@jobq_endpoint("POST", write=True)
def jobq_update(request: ApiRequest, project_id: int) -> HttpResponseBase:
    project = project_for(request, project_id)
    numbers: list[int]
    updates: list[UpdateRequest]
    numbers, updates = [], []
    for number, data in body_lines(read_body(request)):
        try:
            updates.append(update_request(data, project=project))
        except MetadataError as exc:
            raise line_error(number, exc) from None
        numbers.append(number)
    try:
        results = update_jobs(project=project, updates=updates)
    except (MetadataError, LifecycleError) as exc:
        raise line_error(numbers[exc.line], exc) from None
    return jsonlines_response([dumps_line({"key": key, "prevstate": prev}) for key, prev in results])


def cancel_keys(value: object, project: Project) -> list[JobKey]:
    """The job keys of a cancel body: `[{"key": "P/S/J"}, …]`, as many as a
    body may hold lines."""
    if not isinstance(value, list):
        raise invalid('The body must be a JSON array of {"key": "<job key>"} objects.', "key")
    if len(value) > settings.JOBQ_MAX_BODY_LINES:
        raise too_many_lines(settings.JOBQ_MAX_BODY_LINES)
    keys: list[JobKey] = []
    for position, item in enumerate(value, start=1):
        text = item.get("key") if isinstance(item, dict) else item
        try:
            key = parse_job_key(text) if isinstance(text, str) else parse_job_key("")
        except ValueError as exc:
            raise invalid(f"item {position}: {exc}", "key") from None
        if key.project_id != project.pk:
            raise invalid(f"item {position}: {key} is not in project {project.pk}.", "key")
        keys.append(key)
    return keys


@jobq_endpoint("POST", write=True)
def jobq_cancel(request: ApiRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    body = read_body(request)
    if not body.strip() and "count" in request.GET:
        # Scrapy Cloud keeps cancelling "any n jobs" for its admins.
        raise forbidden("Cancelling by count is not available; send the job keys.")
    keys = cancel_keys(parse_body(body), project)
    return json_response({"count": cancel_jobs(project=project, keys=keys, by=requester(request))})


@jobq_endpoint("POST", write=True)
def jobq_cancel_job(
    request: ApiRequest, project_id: int, spider_number: int, job_number: int
) -> HttpResponse:
    project = project_for(request, project_id)
    key = JobKey(project.pk, spider_number, job_number)
    return json_response({"count": cancel_jobs(project=project, keys=[key], by=requester(request))})

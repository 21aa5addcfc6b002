"""The JobQ write API, spelled exactly as ../shared/jobq-contract.md spells it.

Bodies come without a Content-Type (the client posts JSON lines as raw
bytes), so every view reads `request.body` itself: its size first (413),
then every line is parsed and checked before anything is written, so a bad
line anywhere refuses the whole request (400, "line N: …"). The writes
themselves are the transactions of jobs.lifecycle.
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from .api import ApiError, jobq_endpoint, json_response, jsonlines_response, not_found, project_for
from .jobmeta import MetadataError, dumps_line, loads_strict
from .keys import JobKey, parse_job_key
from .lifecycle import (
    LifecycleError,
    cancel_jobs,
    edit_job,
    metadata_change,
    push_jobs,
    push_request,
    removal_change,
    start_next_job,
    update_jobs,
    update_request,
)


def invalid(message, param=None):
    return ApiError(400, "invalid_request", message, param=param)


def too_large(limit):
    return ApiError(413, "too_large", f"The request body is larger than {limit} bytes.")


def read_body(request):
    """The raw body, refused with 413 when it is over JOBQ_MAX_BODY_BYTES:
    by its announced length before reading, and by its real length after."""
    limit = settings.JOBQ_MAX_BODY_BYTES
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > limit:
        raise too_large(limit)
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large(limit) from None
    if len(body) > limit:
        raise too_large(limit)
    return body


def parse_json(text, where):
    try:
        return loads_strict(text)
    except json.JSONDecodeError as exc:
        raise invalid(f"{where}: not valid JSON ({exc}).") from None
    except RecursionError:
        raise invalid(f"{where}: the JSON is nested too deeply.") from None
    except ValueError as exc:  # valid JSON that jobq cannot store unchanged
        raise invalid(f"{where}: {exc}.") from None


def body_lines(body):
    """[(line number, JSON value)] of a JSON Lines body; blank lines skipped."""
    lines = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(f"line {number}: not UTF-8 text.") from None
        lines.append((number, parse_json(text, f"line {number}")))
    return lines


def parse_body(body):
    """The JSON value of a whole body (one object or value, not lines)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("The body is not UTF-8 text.") from None
    if not text.strip():
        raise invalid("The body is empty; send a JSON value.")
    return parse_json(text, "body")


def line_error(number, exc):
    return invalid(f"line {number}: {exc.message}", exc.field)


def requester(request):
    """Who asked, as recorded in `cancelled_by`: the key's user, else its name."""
    key = request.api_key
    if key.user_id is not None:
        return key.user.get_username()
    return key.name or f"key {key.prefix}"


@jobq_endpoint("POST", write=True)
def jobq_push(request, project_id):
    project = project_for(request, project_id)
    pushes = []
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
def jobq_startjob(request, project_id):
    """The oldest pending job, now running; an empty body when none is pending.
    The body may hold one JSON line of metadata to save on the started job."""
    project = project_for(request, project_id)
    lines = body_lines(read_body(request))
    if len(lines) > 1:
        raise invalid(f"line {lines[1][0]}: startjob takes at most one line.")
    change = None
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
def jobq_update(request, project_id):
    project = project_for(request, project_id)
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


def cancel_keys(value, project):
    """The job keys of a cancel body: `[{"key": "P/S/J"}, …]`."""
    if not isinstance(value, list):
        raise invalid('The body must be a JSON array of {"key": "<job key>"} objects.', "key")
    keys = []
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
def jobq_cancel(request, project_id):
    project = project_for(request, project_id)
    body = read_body(request)
    if not body.strip() and "count" in request.GET:
        # Scrapy Cloud keeps cancelling "any n jobs" for its admins.
        raise ApiError(403, "forbidden", "Cancelling by count is not available; send the job keys.")
    keys = cancel_keys(parse_body(body), project)
    return json_response({"count": cancel_jobs(project=project, keys=keys, by=requester(request))})


@jobq_endpoint("POST", write=True)
def jobq_cancel_job(request, project_id, spider_number, job_number):
    project = project_for(request, project_id)
    key = JobKey(project.pk, spider_number, job_number)
    return json_response({"count": cancel_jobs(project=project, keys=[key], by=requester(request))})


def write_job_metadata(request, project, key, field):
    """POST merges an object into the metadata (or sets one field), DELETE
    removes one field. Called by jobq_views.job_metadata, which owns the
    route, the method check and the read-write key check."""
    if request.method == "DELETE":
        if field is None:
            raise ApiError(
                405,
                "method_not_allowed",
                "DELETE removes one field: /jobs/<project>/<spider>/<job>/<field>.",
                headers={"Allow": "GET, HEAD, POST"},
            )
        try:
            change = removal_change(field)
        except MetadataError as exc:
            raise invalid(exc.message, exc.field) from None
    else:
        value = parse_body(read_body(request))
        if field is not None:
            if field in ("key", "auth", "_key"):
                raise invalid(f"{field} cannot be set.", field)
            value = {field: value}
        elif isinstance(value, dict) and "key" in value and value["key"] != str(key):
            raise invalid(f"key {value['key']!r} is not this job's key, {key}.", "key")
        try:
            change = metadata_change(value, project=project)
        except MetadataError as exc:
            raise invalid(exc.message, exc.field) from None
    try:
        found = edit_job(project=project, key=key, change=change)
    except (MetadataError, LifecycleError) as exc:
        raise invalid(exc.message, exc.field) from None
    if not found:
        raise not_found(f"Job {key} not found.")
    return jsonlines_response([])

"""One job's metadata: `GET`, `POST` and `DELETE /jobs/<project>/<spider>/<job>[/<field>]`.

GET answers the whole metadata as one JSON line, or one field as a JSON
value (null when absent). POST merges an object into the metadata (or sets
one field); DELETE removes one field.
"""

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from ..jobmeta import METADATA_COLUMNS, MetadataError, dumps_line, metadata_of
from ..keys import JobKey
from ..lifecycle import Change, LifecycleError, edit_job, metadata_change, removal_change
from ..models import Job, Project, Spider
from .auth import ApiRequest, jobq_endpoint, project_for
from .bodies import field_error, parse_body, read_body
from .errors import invalid, method_not_allowed, not_found
from .responses import json_response, jsonlines_response

# Fields a client can never set: they name the job, or authenticate it.
UNSETTABLE = ("key", "auth", "_key")


@jobq_endpoint("GET", "POST", "DELETE", write={"POST", "DELETE"})
def job_metadata(
    request: ApiRequest, project_id: int, spider_number: int, job_number: int, field: str | None = None
) -> HttpResponseBase:
    project = project_for(request, project_id)
    key = JobKey(project.pk, spider_number, job_number)
    if request.method == "GET" or request.method == "HEAD":
        metadata = read_metadata(key)
        if field is None:
            return jsonlines_response([dumps_line(metadata)])
        return json_response(metadata.get(field))
    change = change_of(request, project, key, field)
    try:
        found = edit_job(project=project, key=key, change=change)
    except (MetadataError, LifecycleError) as exc:
        raise field_error(exc) from None
    if not found:
        raise not_found(f"Job {key} not found.")
    return jsonlines_response([])


def read_metadata(key: JobKey) -> dict[str, Any]:
    row = Job.objects.filter(key=str(key)).values(*METADATA_COLUMNS).first()
    if row is None:
        raise not_found(f"Job {key} not found.")
    spider_name = Spider.objects.filter(pk=row["spider_id"]).values_list("name", flat=True).get()
    return metadata_of(row, spider_name)


def change_of(request: HttpRequest, project: Project, key: JobKey, field: str | None) -> Change:
    """The Change a POST or DELETE asks for, checked before anything is written."""
    try:
        if request.method == "DELETE":
            if field is None:
                raise method_not_allowed(
                    "DELETE",
                    {"GET", "HEAD", "POST"},
                    "DELETE removes one field: /jobs/<project>/<spider>/<job>/<field>.",
                )
            return removal_change(field)
        value = parse_body(read_body(request))
        if field is not None:
            if field in UNSETTABLE:
                raise invalid(f"{field} cannot be set.", field)
            value = {field: value}
        elif isinstance(value, dict) and "key" in value and value["key"] != str(key):
            raise invalid(f"key {value['key']!r} is not this job's key, {key}.", "key")
        return metadata_change(value, project=project)
    except MetadataError as exc:
        raise field_error(exc) from None

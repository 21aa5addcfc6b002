"""The job list's exports: every job matching the filter, streamed as CSV or
as JSON lines shaped like /jobq/<project>/list lines."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..access import project_for_user
from ..jobmeta import dumps_line, list_line, now_ms
from ..jobq.responses import JSONLINES, CompiledRows, batched
from ..listing import export_rows, parse_list_request
from ..ops.replicas import stream_reads
from ..spidernames import spider_names
from . import bad_request

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


def download(generate_lines, project, content_type, extension):
    """A streamed attachment named after the project and the time."""
    response = StreamingHttpResponse(
        stream_reads(lambda: batched(generate_lines())), content_type=content_type
    )
    filename = f"jobq-{project.pk}-{timezone.now():%Y%m%d-%H%M%S}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_lines(rows, names, now):
    """The CSV export: times in UTC ms as the API has them, tags as a JSON array."""
    writer = csv.writer(Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in CompiledRows.of(rows).stream():
        line = {**row, "spider": names.get(row["spider_id"], "")}
        # A JSON array: tags may hold commas and spaces.
        line["tags"] = dumps_line(row["tags"]).decode().strip() if row["tags"] else ""
        yield writer.writerow([spreadsheet_safe(line.get(c)) for c in CSV_COLUMNS])


def jsonl_lines(rows, names, now):
    """The JSON lines export, shaped like /jobq/<project>/list lines."""
    for row in CompiledRows.of(rows).stream():
        yield dumps_line(list_line(row, names, now))


# format -> (lines, content type)
FORMATS = {
    "csv": (csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_lines, JSONLINES),
}


@login_required
@require_GET
def job_export(request, project_id, fmt):
    """Every job matching the list's filters, streamed as a download."""
    project = project_for_user(request.user, project_id)
    listing = parse_list_request(project, request.GET, now=now_ms())
    if listing.errors or not listing.valid:
        # An export link is followed, not shown: the errors as a plain-text 400.
        return bad_request(listing.errors)
    rows, names = export_rows(listing.jobfilter), spider_names(project)
    generate, content_type = FORMATS[fmt]
    return download(lambda: generate(rows, names, listing.now), project, content_type, fmt)

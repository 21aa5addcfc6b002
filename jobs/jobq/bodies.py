"""Request bodies of the write endpoints.

Clients post JSON Lines as raw bytes without a Content-Type, so the views
read the body themselves: its size first (413), then every line is parsed
and checked before anything is written, so a bad line anywhere refuses the
whole request (400, "line N: …").
"""

import json

from django.conf import settings
from django.http import HttpRequest

from ..jobmeta import MetadataError, loads_strict
from ..lifecycle import LifecycleError
from .errors import ApiError, invalid, too_large

# Bytes read from the request stream at a time.
READ_CHUNK = 64 * 1024


def read_body(request: HttpRequest) -> bytes:
    """The raw body, read from the stream with the API's own limit,
    JOBQ_MAX_BODY_BYTES (413 past it): by its announced length before
    reading, and by what really comes. Django's DATA_UPLOAD_MAX_MEMORY_SIZE,
    the pages' smaller limit, does not apply here."""
    if hasattr(request, "_body"):
        return request._body
    limit = settings.JOBQ_MAX_BODY_BYTES
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > limit:
        raise too_large(limit)
    chunks, size = [], 0
    while chunk := request.read(min(READ_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
    body = b"".join(chunks)
    # Where HttpRequest.body keeps it: later reads of request.body (or of this
    # function, for the cross-site check and then the view) see the same bytes.
    request._body = body
    return body


def too_many_lines(limit: int) -> ApiError:
    return ApiError(
        413, "too_large", f"The request has more than {limit} lines; send them in several requests."
    )


def parse_json(text: str, where: str) -> object:
    try:
        return loads_strict(text)
    except json.JSONDecodeError as exc:
        raise invalid(f"{where}: not valid JSON ({exc}).") from None
    except RecursionError:
        raise invalid(f"{where}: the JSON is nested too deeply.") from None
    except ValueError as exc:  # valid JSON that jobq cannot store unchanged
        raise invalid(f"{where}: {exc}.") from None


def body_lines(body: bytes) -> list[tuple[int, object]]:
    """[(line number, JSON value)] of a JSON Lines body; blank lines skipped.
    At most JOBQ_MAX_BODY_LINES lines (413), counted before each is parsed."""
    limit = settings.JOBQ_MAX_BODY_LINES
    lines: list[tuple[int, object]] = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        if len(lines) == limit:
            raise too_many_lines(limit)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(f"line {number}: not UTF-8 text.") from None
        lines.append((number, parse_json(text, f"line {number}")))
    return lines


def parse_body(body: bytes) -> object:
    """The JSON value of a whole body (one object or value, not lines)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("The body is not UTF-8 text.") from None
    if not text.strip():
        raise invalid("The body is empty; send a JSON value.")
    return parse_json(text, "body")


def line_error(number: int, exc: MetadataError | LifecycleError) -> ApiError:
    return invalid(f"line {number}: {exc.message}", exc.field)


def field_error(exc: MetadataError | LifecycleError) -> ApiError:
    return invalid(exc.message, exc.field)

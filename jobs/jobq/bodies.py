"""Request bodies of the write endpoints.

Clients post JSON Lines as raw bytes without a Content-Type, so the views
read the body themselves: its size first (413), then every line is parsed
and checked before anything is written, so a bad line anywhere refuses the
whole request (400, "line N: …").
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from ..jobmeta import MetadataError, loads_strict
from ..lifecycle import LifecycleError
from .errors import ApiError, invalid, too_large


def read_body(request: HttpRequest) -> bytes:
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

"""The two shapes of every JobQ answer: one JSON value, or JSON Lines.

A client reads a collection line by line, so collections are never a JSON
array; the content types are the ones the official client decodes as UTF-8.
"""

from collections.abc import Iterable, Iterator

import orjson
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

JSONLINES = "application/x-jsonlines; charset=utf-8"
JSON = "application/json"


def json_response(value: object, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(value), status=status, content_type=JSON)


def jsonlines_response(lines: Iterable[bytes] | Iterator[bytes], *, stream: bool = False) -> HttpResponseBase:
    """JSON Lines: each item of `lines` is already one encoded line."""
    if stream:
        return StreamingHttpResponse(lines, content_type=JSONLINES)
    return HttpResponse(b"".join(lines), content_type=JSONLINES)

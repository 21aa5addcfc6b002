"""The two shapes of every JobQ answer: one JSON value, or JSON Lines.

A client reads a collection line by line, so collections are never a JSON
array; the content types are the ones the official client decodes as UTF-8.
"""

from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet
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


# A stream's first write is small, so its first byte leaves at once; then
# lines go out in large writes: one socket write per line made the server's
# writes, not the database, the limit of a 1M-line stream.
FIRST_WRITE_LINES = 100
WRITE_LINES = 2000


def batched[AnyStr: (bytes, str)](lines: Iterable[AnyStr]) -> Iterator[AnyStr]:
    """Lines joined into a few large writes (bytes or str alike)."""
    batch: list[AnyStr] = []
    size = FIRST_WRITE_LINES
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield line[:0].join(batch)
            batch, size = [], WRITE_LINES
    if batch:
        yield batch[0][:0].join(batch)


def streamed_rows(rows: QuerySet[Any, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows of a `values()` queryset, read as they are written: through
    a server-side cursor on PostgreSQL, FIRST_WRITE_LINES rows first, then
    WRITE_LINES at a time. Django's `iterator()` fetches one size throughout,
    so the first byte of a stream waited for 2,000 rows."""
    query = rows.query
    compiler = query.get_compiler(using=rows.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        return
    names = [*query.extra_select, *query.values_select, *query.annotation_select]

    def chunks() -> Iterator[list[tuple[Any, ...]]]:
        with compiler.connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            size = FIRST_WRITE_LINES
            while batch := cursor.fetchmany(size):
                yield batch
                size = WRITE_LINES

    # The ORM's own converters (JSON, dates on SQLite, ...), as iterator() applies them.
    for row in compiler.results_iter(results=chunks()):
        yield dict(zip(names, row, strict=False))

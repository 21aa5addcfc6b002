"""The two shapes of every JobQ answer: one JSON value, or JSON Lines.

A client reads a collection line by line, so collections are never a JSON
array; the content types are the ones the official client decodes as UTF-8.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
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


@dataclass(frozen=True)
class CompiledRows:
    """The rows of a `values()` queryset, its SQL compiled once: read as
    dicts, with the ORM's own converters (JSON, tags, dates on SQLite, ...)
    applied to the columns that have one, as `values()` applies them.

    Compiled, it can be kept and read again: a list's queryset took longer
    to build and compile than PostgreSQL took to answer it (listplans)."""

    alias: str
    sql: str | None  # None: a filter that can match nothing (Django's EmptyResultSet)
    params: tuple[Any, ...]
    names: tuple[str, ...]
    # (position, converters, expression) of each column that has converters.
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...]

    @classmethod
    def of(cls, rows: QuerySet[Any, dict[str, Any]]) -> Self:
        query = rows.query
        compiler = query.get_compiler(using=rows.db)
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return cls(rows.db, None, (), names, ())
        found = compiler.get_converters([column for column, _, _ in compiler.select])
        converters = tuple(
            (position, tuple(functions), expression) for position, (functions, expression) in found.items()
        )
        return cls(rows.db, sql, tuple(params), names, converters)

    def fetch(self) -> list[dict[str, Any]]:
        """Every row at once."""
        if self.sql is None:
            return []
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return list(self._dicts(cursor.fetchall(), connection))

    def stream(self) -> Iterator[dict[str, Any]]:
        """The rows, read as they are written: through a server-side cursor
        on PostgreSQL, FIRST_WRITE_LINES rows first, then WRITE_LINES at a
        time. Django's `iterator()` fetches one size throughout, so the first
        byte of a stream waited for 2,000 rows."""
        if self.sql is None:
            return
        connection = connections[self.alias]
        with connection.chunked_cursor() as cursor:
            cursor.execute(self.sql, self.params)
            size = FIRST_WRITE_LINES
            while batch := cursor.fetchmany(size):
                yield from self._dicts(batch, connection)
                size = WRITE_LINES

    def _dicts(
        self, rows: list[tuple[Any, ...]], connection: BaseDatabaseWrapper
    ) -> Iterator[dict[str, Any]]:
        # One at a time: a stream's batch of rows is not held twice, as tuples and as dicts.
        names = self.names
        for row in rows:
            # A row may end with columns the query selects for its own use (ordering a DISTINCT).
            values = dict(zip(names, row, strict=False))
            for position, converters, expression in self.converters:
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                values[names[position]] = value
            yield values

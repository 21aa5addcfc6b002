"""Model rows read by fixed SQL, for the few queries every API request runs.

Building a query through the ORM costs more than PostgreSQL takes to answer
it when it reads one row by an index: the key lookup and the counters were
most of an API request's time (docs/performance.md, "Where an API request's
time goes"). Their SQL is written once, from the models' own table and
column names, and the values come back through the same converters the ORM
applies (SQLite returns date-times as text, JSON as text, ...).
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


class Columns[M: models.Model]:
    """Every concrete column of `model` under a table alias in a SELECT,
    turned back into an instance of the model."""

    def __init__(self, model: type[M], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self.columns = [field.column for field in self.fields if field.column is not None]
        assert len(self.columns) == len(self.fields)  # every concrete field has one
        self.pk_column = self.columns[self.fields.index(model._meta.pk)]
        # Per database alias: [(position, converters, expression)].
        self._converters: dict[str, list[tuple[int, list[Any], Any]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def select(self, connection: BaseDatabaseWrapper) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(column)}" for column in self.columns)

    def instance(self, values: Sequence[Any], connection: BaseDatabaseWrapper) -> M:
        """The model instance of this row's values, as the ORM would build it."""
        row = list(values)
        for position, converters, expression in self.converters(connection):
            value = row[position]
            for converter in converters:
                value = converter(value, expression, connection)
            row[position] = value
        return self.model.from_db(connection.alias, self.attnames, row)

    def converters(self, connection: BaseDatabaseWrapper) -> list[tuple[int, list[Any], Any]]:
        found = self._converters.get(connection.alias)
        if found is None:
            found = []
            for position, field in enumerate(self.fields):
                expression = field.get_col(self.alias)
                converters = db_converters(expression, connection)
                if converters:
                    found.append((position, converters, expression))
            self._converters[connection.alias] = found
        return found


def db_converters(expression: Any, connection: BaseDatabaseWrapper) -> list[Any]:
    """What the ORM applies to a column's value as the database returns it."""
    return connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)


def column_reader(field: models.Field, connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """A function from one column's value, as fixed SQL reads it, to the
    value the ORM would give for `field`."""
    expression = field.get_col(field.model._meta.db_table)
    converters = db_converters(expression, connection)

    def read(value: Any) -> Any:
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    return read


class PreparingCursor(psycopg.Cursor):
    """A server-side binding cursor whose every statement is prepared (once
    per connection: psycopg keeps them by their text)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


@contextmanager
def fixed_cursor(connection: BaseDatabaseWrapper) -> Iterator[CursorWrapper]:
    """A cursor for fixed SQL. On PostgreSQL its statements are prepared once
    per connection: planning the key lookup took twice as long as running
    it. Only fixed SQL is prepared, whose plans are the same for any value
    (lookups by unique keys, counters, a step along an index); a filtered
    list is planned afresh each time, as a tag's plan depends on how common
    the tag is.

    The statement still runs through Django's cursor wrapper, so errors and
    execute wrappers are the same as for any other query. While Django logs
    queries (DEBUG, or a test counting them) it binds on the client as usual,
    so that the log shows the statement with its values."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql" or connection.queries_logged:
            yield cursor
            return
        client_cursor = cursor.cursor
        cursor.cursor = PreparingCursor(connection.connection)
        try:
            yield cursor
        finally:
            cursor.cursor.close()
            cursor.cursor = client_cursor

"""The job's own column types.

The tags column, which PostgreSQL and SQLite store differently on purpose:
PostgreSQL keeps tags as `text[]` with a GIN index and filters with `&&`
(5-10x faster than a many-to-many table on tag filters). SQLite has no
arrays, so the same field is JSON text there, and the `overlap` lookup
uses `json_each` to give the same "has at least one of" semantics.

And JSON read with orjson (FastJSONField).
"""

import json
from collections.abc import Sequence
from typing import Any

import orjson
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.ddl_references import Statement
from django.db.models.sql.compiler import SQLCompiler


class FastJSONField(models.JSONField):
    """A JSONField decoded with orjson: Django's `json.loads` of each row's
    spider arguments was a tenth of a list's time. What orjson refuses
    (integers past 64 bits, NaN written by SQLite) goes the stock way.
    Migrations see a plain JSONField: the column is the same."""

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        if isinstance(value, str) and self.decoder is None:
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        return super().from_db_value(value, expression, connection)

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


class TagsField(models.Field):
    description = "A list of tags (text[] on PostgreSQL, JSON text on SQLite)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", list)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("default") is list:
            del kwargs["default"]
        if kwargs.get("blank") is True:
            del kwargs["blank"]
        return name, path, args, kwargs

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "text[]" if connection.vendor == "postgresql" else "text"

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if value is None:
            value = []
        value = list(value)
        if connection.vendor == "postgresql":
            return value
        return json.dumps(value, ensure_ascii=False)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return json.loads(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, str):
            return json.loads(value)
        return list(value or [])

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj), ensure_ascii=False)


@TagsField.register_lookup
class Overlap(models.Lookup):
    """`tags__overlap=[a, b]`: the job has at least one of the tags."""

    lookup_name = "overlap"
    prepare_rhs = False

    # django-stubs allows only str and int parameters; PostgreSQL binds the
    # list of tags as one text[] parameter.
    def as_sql(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, Sequence[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [str(value) for value in self.rhs]
        if not values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            return f"{lhs} && %s::text[]", (*lhs_params, values)
        placeholders = ", ".join(["%s"] * len(values))
        return (
            f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value IN ({placeholders}))",
            (*lhs_params, *values),
        )


class PostgresGinIndex(GinIndex):
    """A GIN index on PostgreSQL; nothing on SQLite, which has no GIN indexes
    (and stores tags as JSON text there, see TagsField)."""

    def create_sql(
        self,
        model: type[models.Model],
        schema_editor: BaseDatabaseSchemaEditor,
        using: str = "",
        **kwargs: Any,
    ) -> Statement:
        if schema_editor.connection.vendor != "postgresql":
            return Statement("SELECT 1")
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    # django-stubs says Index.remove_sql returns str; Django returns a Statement.
    def remove_sql(  # type: ignore[override]
        self, model: type[models.Model], schema_editor: BaseDatabaseSchemaEditor, **kwargs: Any
    ) -> Statement | str:
        if schema_editor.connection.vendor != "postgresql":
            return Statement("SELECT 1")
        return super().remove_sql(model, schema_editor, **kwargs)

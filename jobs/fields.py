"""The tags column, which PostgreSQL and SQLite store differently on purpose.

PostgreSQL keeps tags as `text[]` with a GIN index and filters with `&&`
(5-10x faster than a many-to-many table on tag filters). SQLite has no
arrays, so the same field is JSON text there, and the `overlap` lookup
uses `json_each` to give the same "has at least one of" semantics.
"""

import json

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.backends.ddl_references import Statement


class TagsField(models.Field):
    description = "A list of tags (text[] on PostgreSQL, JSON text on SQLite)"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", list)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("default") is list:
            del kwargs["default"]
        if kwargs.get("blank") is True:
            del kwargs["blank"]
        return name, path, args, kwargs

    def db_type(self, connection):
        return "text[]" if connection.vendor == "postgresql" else "text"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            value = []
        value = list(value)
        if connection.vendor == "postgresql":
            return value
        return json.dumps(value, ensure_ascii=False)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return []
        if isinstance(value, str):
            return json.loads(value)
        return value

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return list(value or [])

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj), ensure_ascii=False)


@TagsField.register_lookup
class Overlap(models.Lookup):
    """`tags__overlap=[a, b]`: the job has at least one of the tags."""

    lookup_name = "overlap"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
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

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return Statement("SELECT 1")
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    def remove_sql(self, model, schema_editor, **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return Statement("SELECT 1")
        return super().remove_sql(model, schema_editor, **kwargs)

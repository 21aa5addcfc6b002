"""Job metadata: the one place that turns a job into its JobQ shapes and a
JobQ metadata object into job columns.

A job's metadata, as `GET /jobs/<key>` answers it, is its standard fields
(stored as columns) followed by any custom fields (stored as JSON in `meta`).
The functions here work on plain dicts of column values, so the list can
stream `values()` rows without building model instances.
"""

import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import orjson

from .keys import INT64_MAX, INT64_MIN, TIME_RANGE, is_time_ms
from .models import STATES

TIME_FIELDS = ("pending_time", "running_time", "finished_time", "deleted_time")
TEXT_FIELDS = ("close_reason", "version", "scheduled_by", "started_by", "completed_by")
OBJECT_FIELDS = ("spider_args", "scrapystats")
SUMMARY_FIELDS = ("items", "pages", "errors")

# Metadata field -> the column that holds it.
COLUMN_OF = {
    "project": "project_id",
    "spider": "spider_id",
    "state": "state",
    **{name: name for name in TIME_FIELDS},
    "close_reason": "close_reason",
    "priority": "priority",
    "units": "units",
    "tags": "tags",
    "spider_args": "spider_args",
    "version": "version",
    "scheduled_by": "scheduled_by",
    "started_by": "started_by",
    "completed_by": "completed_by",
    "scrapystats": "scrapystats",
    "unique": "unique_key",
}
STANDARD_FIELDS = frozenset(COLUMN_OF)
# Fields that a client may send back unchanged but never changes this way.
IDENTITY_FIELDS = frozenset({"project", "spider", "key", "auth", "_key"})

# Columns of a list line without jobmeta.
LIST_COLUMNS = (
    "id",
    "key",
    "ts",
    "state",
    "spider_id",
    "pending_time",
    "running_time",
    "finished_time",
    "tags",
    "close_reason",
    "items",
    "pages",
    "errors",
    "version",
    "spider_args",
)
# Summary fields a list line adds when the job has them. spider_args is what
# Spidermon's jobs comparison reads from list lines to find like runs.
LIST_SUMMARY_FIELDS = ("close_reason", "items", "pages", "errors", "version", "spider_args")
# Every column metadata_of() reads.
METADATA_COLUMNS = (
    "id",
    "key",
    "ts",
    "project_id",
    "spider_id",
    "state",
    *TIME_FIELDS,
    "close_reason",
    "priority",
    "units",
    "tags",
    "spider_args",
    "version",
    "scheduled_by",
    "started_by",
    "completed_by",
    "scrapystats",
    "unique_key",
    "meta",
    "items",
    "pages",
    "errors",
)

# Scrapy stats that give the summary figures when they are not sent explicitly.
STATS_FOR_SUMMARY = {
    "items": "item_scraped_count",
    "pages": "response_received_count",
    "errors": "log_count/ERROR",
}

# The longest spider name, tag or text field (and filter value) jobq takes.
MAX_TEXT = 255


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def dumps_line(obj: object) -> bytes:
    """One compact JSON line, UTF-8, with its newline."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)


# --- reading: columns -> JobQ shapes -------------------------------------


def metadata_of(row: Mapping[str, Any], spider_name: str) -> dict[str, Any]:
    """The job's whole metadata, as GET /jobs/<key> answers it."""
    data: dict[str, Any] = {"project": row["project_id"], "spider": spider_name, "state": row["state"]}
    for name in TIME_FIELDS:
        if row[name] is not None:
            data[name] = row[name]
    if row["close_reason"] is not None:
        data["close_reason"] = row["close_reason"]
    data["priority"] = row["priority"]
    data["units"] = row["units"]
    data["tags"] = row["tags"]
    for name in ("spider_args", "version", "scheduled_by", "started_by", "completed_by", "scrapystats"):
        if row[name] is not None:
            data[name] = row[name]
    if row["unique_key"] is not None:
        data["unique"] = row["unique_key"]
    data.update(row["meta"] or {})
    return data


def columns_for(jobmeta: Sequence[str] | None) -> tuple[str, ...]:
    """The columns a list line needs, with or without `jobmeta` fields."""
    if not jobmeta:
        return LIST_COLUMNS
    columns = ["id", "key", "ts", "state", "tags"]
    for field in jobmeta:
        column = COLUMN_OF.get(field) or (field if field in SUMMARY_FIELDS else "meta")
        if column not in columns:
            columns.append(column)
    return tuple(columns)


def list_line(
    row: Mapping[str, Any], spider_names: Mapping[int, str], now: int, jobmeta: Sequence[str] | None = None
) -> dict[str, Any]:
    """A job as one line of /list, /summary and /jobsummary."""
    line: dict[str, Any] = {"key": row["key"], "ts": row["ts"], "state": row["state"]}
    if not jobmeta:
        line["spider"] = spider_names.get(row["spider_id"])
        line["elapsed"] = now - row["ts"]
        for name in ("pending_time", "running_time", "finished_time"):
            if row[name] is not None:
                line[name] = row[name]
        if row["tags"]:
            line["tags"] = row["tags"]
        for name in LIST_SUMMARY_FIELDS:
            if row[name] is not None:
                line[name] = row[name]
        return line
    line["elapsed"] = now - row["ts"]
    if row["tags"]:
        line["tags"] = row["tags"]
    meta = row.get("meta") or {}
    for field in jobmeta:
        if field in line and field != "tags":
            continue
        if field == "spider":
            line["spider"] = spider_names.get(row["spider_id"])
        elif field == "project":
            line["project"] = row["project_id"]
        elif field == "tags":
            line["tags"] = row["tags"]
        elif field in COLUMN_OF:
            value = row[COLUMN_OF[field]]
            if value is not None:
                line[field] = value
        elif field in meta:
            line[field] = meta[field]
        elif field in SUMMARY_FIELDS and row[field] is not None:
            line[field] = row[field]
    return line


# --- writing: JobQ metadata -> columns -------------------------------------


class MetadataError(ValueError):
    """A metadata value that jobq cannot store; `field` names it."""

    # Set by lifecycle.update_jobs: the index of the update at fault.
    line: int

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _reject_big_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"the integer {text} is outside the 64-bit range")
    return value


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _reject_infinite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text} is too large for a float")
    return value


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON, refusing integers outside 64 bits and NaN/Infinity (also
    as 1e400), which would not survive storage and output unchanged."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass  # the checks below say what is wrong
    else:
        if _plainly_storable(value):
            return value
    value = json.loads(
        text, parse_int=_reject_big_int, parse_float=_reject_infinite, parse_constant=_reject_constant
    )
    # orjson, which writes every answer, refuses lone surrogates (which the
    # databases refuse too) and nesting deeper than 254 levels. Two levels of
    # headroom: some answers wrap a stored value (push repeats a refused line).
    try:
        orjson.dumps({"": {"": value}})
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"the value cannot be stored ({exc})") from None
    return value


# Nesting that orjson.dumps refuses, with loads_strict's headroom.
_DEEPEST = 252
# orjson reads an integer beyond 64 bits as a float: any float this large may
# have been one, and takes the checked path.
_FLOAT_LIMIT = 2.0**63


def _plainly_storable(value: object, depth: int = 0) -> bool:
    """True when a value parsed by orjson needs none of loads_strict's checks:
    every integer within 64 bits, every float finite and small enough that it
    was not an integer literal, nesting well within orjson's limit. orjson
    itself refuses NaN, Infinity and lone surrogates. False sends the text to
    the checked path (which gives the error message), so a bulk import parses
    at orjson's speed."""
    if depth > _DEEPEST:
        return False
    items: Any = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for item in items:
        kind = type(item)
        if kind is int:
            if not INT64_MIN <= item <= INT64_MAX:
                return False
        elif kind is float:
            if not -_FLOAT_LIMIT < item < _FLOAT_LIMIT:
                return False
        elif (kind is dict or kind is list) and not _plainly_storable(item, depth + 1):
            return False
    return True


def has_nul(value: object) -> bool:
    """True when a NUL character hides anywhere in a JSON value: PostgreSQL
    refuses it in text and jsonb, SQLite would keep it; refuse it on both."""
    # orjson writes NUL as \u0000: one C pass clears almost every value (an
    # import checks every line). A backslash before "u0000" also matches and
    # takes the walk below, as does a value orjson cannot write.
    try:
        if b"\\u0000" not in orjson.dumps(value):
            return False
    except orjson.JSONEncodeError:
        pass
    return _has_nul(value)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _int(
    field: str, value: object, low: int = INT64_MIN, high: int = INT64_MAX, nullable: bool = True
) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MetadataError(field, f"{field} must be an integer from {low} to {high}.")
    return value


def clean_time(field: str, value: object, nullable: bool = True) -> int | None:
    """A time in milliseconds within jobq's range, or MetadataError naming the field."""
    if value is None and nullable:
        return None
    if not is_time_ms(value):
        raise MetadataError(field, f"{field} must be a time in milliseconds since 1970, {TIME_RANGE}.")
    return value


def _text(field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MetadataError(field, f"{field} must be a string.")
    if len(value) > MAX_TEXT:
        raise MetadataError(field, f"{field} is longer than {MAX_TEXT} characters.")
    return value


def clean_tags(value: object, field: str = "tags") -> list[str]:
    """A list of distinct tags in their first order."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise MetadataError(field, f"{field} must be a list of strings.")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not tag:
            raise MetadataError(field, f"{field} must be a list of non-empty strings.")
        if len(tag) > MAX_TEXT:
            raise MetadataError(field, f"a tag in {field} is longer than {MAX_TEXT} characters.")
        if tag not in tags:
            tags.append(tag)
    return tags


def clean_spider_name(value: object, field: str = "spider") -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise MetadataError(field, f"{field} must be the spider's name (1-{MAX_TEXT} characters).")
    return value


def clean_state(value: object, field: str = "state") -> str:
    if value not in STATES:
        raise MetadataError(field, f"{field} must be one of {', '.join(STATES)}, not {value!r}.")
    return value


def split_metadata(data: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a metadata object and split it into (columns, custom).

    `columns` maps column names to clean values for the standard fields that
    `data` holds; `custom` is every other field, kept as sent. Identity
    fields (project, spider, key, auth) are left to the caller.
    """
    if not isinstance(data, dict):
        raise MetadataError("metadata", "metadata must be a JSON object.")
    if has_nul(data):
        raise MetadataError("metadata", "metadata must not contain NUL characters.")
    columns: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for field, value in data.items():
        if field in IDENTITY_FIELDS:
            continue
        if field == "state":
            columns["state"] = clean_state(value)
        elif field in TIME_FIELDS:
            columns[field] = clean_time(field, value)
        elif field in TEXT_FIELDS:
            columns[field] = _text(field, value)
        elif field == "priority":
            columns["priority"] = _int(field, value, 0, 4, nullable=False)
        elif field == "units":
            columns["units"] = _int(field, value, 1, 2**31 - 1, nullable=False)
        elif field == "tags":
            columns["tags"] = clean_tags(value)
        elif field in OBJECT_FIELDS:
            if value is not None and not isinstance(value, dict):
                raise MetadataError(field, f"{field} must be a JSON object.")
            columns[field] = value
        elif field == "unique":
            columns["unique_key"] = _text(field, None if value is None else str(value))
        else:
            custom[field] = value
    return columns, custom


def summary_figures(scrapystats: object, custom: Mapping[str, Any]) -> dict[str, int | None]:
    """items/pages/errors: sent explicitly, or read from the Scrapy stats."""
    figures: dict[str, int | None] = {}
    for name, stat in STATS_FOR_SUMMARY.items():
        value = custom.get(name)
        if value is None and isinstance(scrapystats, dict):
            value = scrapystats.get(stat)
        if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
            value = None
        figures[name] = value
    return figures


def export_line(row: Mapping[str, Any], spider_name: str) -> dict[str, Any]:
    """A job as `export_jobs` writes it and `import_jobs` reads it back."""
    return {"key": row["key"], "ts": row["ts"], **metadata_of(row, spider_name)}

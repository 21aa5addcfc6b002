"""Scrapy stats as jobq stores them."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MILLISECOND = timedelta(milliseconds=1)
# The job's summary figures and the Scrapy stats they come from.
FIGURES = {
    "items": "item_scraped_count",
    "pages": "response_received_count",
    "errors": "log_count/ERROR",
}


def jsonable(value: Any) -> Any:
    """`value` as JSON that jobq accepts unchanged.

    Datetimes become milliseconds since the epoch, UTC (as jobq's own times
    and Scrapy Cloud's stats are); a naive datetime is taken as UTC, which is
    what older Scrapy versions stored. Values JSON cannot hold exactly (NaN,
    infinities, integers beyond 64 bits, NUL characters that PostgreSQL
    refuses, other objects) are turned into the nearest thing it can.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return (value - EPOCH) // MILLISECOND
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {jsonable(str(key)): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    return jsonable(str(value))


def figures(stats: dict[str, Any]) -> dict[str, int]:
    """items, pages and errors of (jsonable) Scrapy stats; 0 when the stat is missing."""
    result = {}
    for name, stat in FIGURES.items():
        value = stats.get(stat)
        result[name] = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return result

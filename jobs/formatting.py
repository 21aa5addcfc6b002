"""How values look on pages, in one place: times in the user's zone,
relative times, durations, numbers and metadata values. Views and template
tags both use these, so a job's times read the same everywhere."""

import datetime
import json

from .timezones import local_datetime

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def invalid_time(ms: int) -> str:
    """What a page shows for a stored time it cannot show as a date."""
    return f"invalid time {ms}"


def local_time(ms: int, zone: datetime.tzinfo | None = None) -> str:
    """'2026-11-28 16:40:03': the moment in the user's zone (or `zone`)."""
    moment = local_datetime(ms, zone)
    return invalid_time(ms) if moment is None else moment.strftime(TIME_FORMAT)


def local_time_named(ms: int) -> str:
    """'2026-11-28 16:40:03 CET': the moment in the user's zone, its zone named."""
    moment = local_datetime(ms)
    return invalid_time(ms) if moment is None else f"{moment:{TIME_FORMAT}} {moment.tzname()}"


def local_isoformat(ms: int) -> str:
    """ISO 8601 with the zone's offset, for <time datetime="…">; empty for
    a time that is not a date (the attribute must then say nothing)."""
    moment = local_datetime(ms)
    return "" if moment is None else moment.isoformat(timespec="milliseconds")


def relative(ms: int, now_ms: int) -> str:
    """'3 min ago', 'in 2 h': compact, cheap, for a title attribute."""
    delta = (now_ms - ms) // 1000
    future = delta < 0
    delta = abs(delta)
    if delta < 60:
        text = f"{delta} s"
    elif delta < 3600:
        text = f"{delta // 60} min"
    elif delta < 86400 * 2:
        text = f"{delta // 3600} h {delta % 3600 // 60} min"
    else:
        text = f"{delta // 86400} days"
    return f"in {text}" if future else f"{text} ago"


def format_duration(ms: int | None) -> str:
    """'850 ms', '42 s', '3 min 5 s', '2 h 10 min', '3 d 4 h': two units at most."""
    if ms is None:
        return ""
    if ms < 0:
        return "-" + format_duration(-ms)
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def number(value: int | None) -> str:
    """'12,345', or nothing for a missing figure."""
    return "" if value is None else f"{value:,}"


def value_text(value: object) -> str:
    """A metadata value as text: strings and numbers as they are, anything
    else (objects, lists, true/false, null) as compact JSON, never Python's repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def is_number(value: object) -> bool:
    """True for ints and floats, not booleans."""
    return isinstance(value, int | float) and not isinstance(value, bool)

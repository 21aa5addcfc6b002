"""The user's time zone for pages: the browser tells it in a `tz` cookie
(jobq.js sets it from Intl.DateTimeFormat().resolvedOptions().timeZone).
Anything that zoneinfo does not know falls back to UTC. Times are stored
as UTC milliseconds; pages show them in this zone and name it."""

import datetime
import zoneinfo

from django.utils import timezone

COOKIE = "tz"
UTC = datetime.UTC
DAY_MS = 86_400_000
# The times pages can show: 1970-01-01 to 9999-12-31 UTC, in milliseconds.
# A stored time outside them (microseconds by mistake, any other int64, a row
# written before the writes checked their times) reads as out of range
# instead of failing the page.
MIN_MS = 0
MAX_MS = 253_402_300_799_999


def zone_from_name(name: str) -> zoneinfo.ZoneInfo | None:
    """The ZoneInfo of an IANA name, or None for anything else."""
    if not name or len(name) > 64 or "\x00" in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone_name(zone: datetime.tzinfo | None = None) -> str:
    """The IANA name of the zone times are shown in, e.g. 'Europe/Paris'."""
    zone = zone or timezone.get_current_timezone()
    return getattr(zone, "key", None) or str(zone)


def in_time_range(ms: int) -> bool:
    """True for UTC milliseconds that a page can show as a date."""
    return MIN_MS <= ms <= MAX_MS


def local_datetime(ms: int, zone: datetime.tzinfo | None = None) -> datetime.datetime | None:
    """An aware datetime in the current zone for UTC milliseconds: the one
    conversion that every page, partial and template tag uses. None for a
    time outside MIN_MS..MAX_MS, or one the zone would carry past year 9999."""
    zone = zone or timezone.get_current_timezone()
    ms = int(ms)
    if not in_time_range(ms):
        return None
    try:
        # Whole seconds in the zone, then the milliseconds: one conversion,
        # exact (a float of seconds could round), and the zone's fold kept.
        return datetime.datetime.fromtimestamp(ms // 1000, tz=zone).replace(microsecond=ms % 1000 * 1000)
    except (OverflowError, ValueError):
        return None


def ms_from_local(value: datetime.datetime, zone: datetime.tzinfo | None = None) -> int:
    """UTC milliseconds of a naive local datetime (a datetime-local input)."""
    zone = zone or timezone.get_current_timezone()
    if timezone.is_naive(value):
        value = value.replace(tzinfo=zone)
    try:
        return int(value.timestamp() * 1000)
    except (OverflowError, ValueError):
        # Year 1 or 9999 typed in a zone that carries it past datetime's range.
        return MIN_MS - 1 if value.year < 1970 else MAX_MS + 1

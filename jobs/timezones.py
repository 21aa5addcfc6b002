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


def local_datetime(ms: int, zone: datetime.tzinfo | None = None) -> datetime.datetime:
    """An aware datetime in the current zone for UTC milliseconds: the one
    conversion that every page, partial and template tag uses."""
    zone = zone or timezone.get_current_timezone()
    return datetime.datetime.fromtimestamp(int(ms) / 1000, tz=UTC).astimezone(zone)


def ms_from_local(value: datetime.datetime, zone: datetime.tzinfo | None = None) -> int:
    """UTC milliseconds of a naive local datetime (a datetime-local input)."""
    zone = zone or timezone.get_current_timezone()
    if timezone.is_naive(value):
        value = value.replace(tzinfo=zone)
    return int(value.timestamp() * 1000)


def utc_offset_ms(zone: datetime.tzinfo | None = None, at: datetime.datetime | None = None) -> int:
    """The zone's current offset from UTC in milliseconds (the chart's days)."""
    zone = zone or timezone.get_current_timezone()
    at = at or datetime.datetime.now(UTC)
    offset = at.astimezone(zone).utcoffset() or datetime.timedelta(0)
    return int(offset.total_seconds() * 1000)

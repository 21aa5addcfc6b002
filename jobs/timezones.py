"""The user's time zone for pages: the browser tells it in a `tz` cookie
(jobq.js sets it from Intl.DateTimeFormat().resolvedOptions().timeZone).
Anything that zoneinfo does not know falls back to UTC. Times are stored
as UTC milliseconds; pages show them in this zone and name it."""

import datetime
import zoneinfo
from urllib.parse import unquote

from django.utils import timezone

COOKIE = "tz"
UTC = datetime.UTC


def zone_from_name(name):
    """The ZoneInfo of an IANA name, or None for anything else."""
    if not name or len(name) > 64 or "\x00" in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


class TimezoneMiddleware:
    """Activates the zone of the `tz` cookie for the request (UTC without one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_from_name(unquote(request.COOKIES.get(COOKIE, "")))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def zone_name(zone=None):
    zone = zone or timezone.get_current_timezone()
    return getattr(zone, "key", None) or str(zone)


def local_datetime(ms, zone=None):
    """An aware datetime in the current zone for UTC milliseconds."""
    zone = zone or timezone.get_current_timezone()
    return datetime.datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone)


def ms_from_local(value, zone=None):
    """UTC milliseconds of a naive local datetime (a datetime-local input)."""
    zone = zone or timezone.get_current_timezone()
    if timezone.is_naive(value):
        value = value.replace(tzinfo=zone)
    return int(value.timestamp() * 1000)


def utc_offset_ms(zone=None, at=None):
    """The zone's current offset from UTC in milliseconds (the chart's days)."""
    zone = zone or timezone.get_current_timezone()
    at = at or datetime.datetime.now(UTC)
    offset = at.astimezone(zone).utcoffset() or datetime.timedelta(0)
    return int(offset.total_seconds() * 1000)


def relative(ms, now_ms):
    """ "3 min ago", "in 2 h": compact, cheap, for a title attribute."""
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


def duration(ms):
    """ "1 h 02 min", "45 s": a job's run time."""
    if ms is None or ms < 0:
        return ""
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600:02d} h"

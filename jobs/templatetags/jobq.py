"""Times on pages: stored as UTC milliseconds, shown in the zone that the
time-zone middleware activated (the browser's), with the zone named.
Shared by every page: {% load jobq %}."""

import datetime

from django import template
from django.utils import timezone

register = template.Library()


def _local(ms):
    moment = datetime.datetime.fromtimestamp(int(ms) / 1000, tz=datetime.UTC)
    return moment.astimezone(timezone.get_current_timezone())


@register.filter
def ms_datetime(ms):
    """'2026-11-28 16:40:03 CET': the moment in the user's zone, its zone named."""
    if ms is None or ms == "":
        return ""
    moment = _local(ms)
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname()}"


@register.filter
def ms_isoformat(ms):
    """The ISO 8601 form with its UTC offset, for <time datetime="…">."""
    if ms is None or ms == "":
        return ""
    return _local(ms).isoformat(timespec="milliseconds")


@register.simple_tag
def current_zone():
    """The IANA name of the zone times are shown in, e.g. 'Europe/Paris'."""
    zone = timezone.get_current_timezone()
    return getattr(zone, "key", None) or str(zone)

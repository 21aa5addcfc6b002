"""jobq's template filters: {% load jobq %}. Formatting itself lives in
jobs.formatting, shared with the views; these only expose it to templates."""

from django import template

from .. import formatting
from ..filters import FILTER_PARAMS
from ..timezones import zone_name

register = template.Library()


@register.filter
def ms_datetime(ms):
    """'2026-11-28 16:40:03 CET': the moment in the user's zone, its zone named."""
    return "" if ms is None or ms == "" else formatting.local_time_named(ms)


@register.filter
def ms_isoformat(ms):
    """The ISO 8601 form with its UTC offset, for <time datetime="…">."""
    return "" if ms is None or ms == "" else formatting.local_isoformat(ms)


@register.simple_tag
def current_zone():
    """The IANA name of the zone times are shown in, e.g. 'Europe/Paris'."""
    return zone_name()


@register.filter
def duration_ms(value):
    """A duration in milliseconds, in words: {{ 192000|duration_ms }} -> '3 min 12 s'."""
    return formatting.format_duration(value)


@register.filter
def is_number(value):
    """True for ints and floats (not booleans), so stats can use intcomma."""
    return formatting.is_number(value)


@register.filter
def as_text(value):
    """Strings as they are; objects, lists, booleans and null as JSON."""
    return formatting.value_text(value)


@register.filter
def bulk_filter_params(query):
    """[(name, value), …] of the JobFilter parameters in a QueryDict: what the
    bulk toolbar carries so that "all jobs matching this filter" means the
    filter on the screen."""
    return [(name, value) for name in FILTER_PARAMS for value in query.getlist(name) if value != ""]

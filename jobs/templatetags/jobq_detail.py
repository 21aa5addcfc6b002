"""Filters of the job detail page. Times in the user's zone come from the
shared `jobq` library; these only format durations and numbers."""

from django import template

from ..jobdetail import format_duration, value_text

register = template.Library()


@register.filter
def duration_ms(value):
    """A duration in milliseconds, in words: {{ 192000|duration_ms }} -> '3 min 12 s'."""
    return format_duration(value)


@register.filter
def is_number(value):
    """True for ints and floats (not booleans), so stats can use intcomma."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@register.filter
def bulk_filter_params(query):
    """[(name, value), …] of the JobFilter parameters in a QueryDict: what the
    bulk toolbar carries so that "all jobs matching this filter" means the
    filter on the screen."""
    from ..views_bulk import FILTER_PARAMS

    return [(name, value) for name in FILTER_PARAMS for value in query.getlist(name) if value != ""]


@register.filter
def as_text(value):
    """Strings as they are; objects, lists, booleans and null as JSON."""
    return value_text(value)

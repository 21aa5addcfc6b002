"""A job as one row of the dashboard's list, formatted here so that row
templates stay lean (100 rows cost 16-20 ms of template rendering even so)."""

from collections.abc import Mapping
from datetime import tzinfo
from html import escape

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import get_current_timezone

from .formatting import format_duration, invalid_time, number, relative
from .health import FIGURES, Hint, Run, Usual, hints_of
from .links import FilterLinks, job_detail_url
from .models import State
from .outcomes import badge_label, badge_of
from .timezones import local_datetime

LIVE_STATES = (State.PENDING, State.RUNNING)
NOTHING = SafeString("")


# A row's cells with markup of their own (times, hints) come built from here,
# not from template tags: a page has 50 rows of them, and the template's
# variable lookups were the larger part of drawing a page.


def html(text: str) -> SafeString:
    """Text escaped for HTML as the template's autoescape would (the same
    `html.escape`), but here: the template then writes it as it is, without
    Django's escaping, its lazy-text checks and its number formatting, for
    the 25 or so values of each row."""
    return SafeString(escape(text))


def time_html(ms: int, now: int, zone: tzinfo) -> SafeString:
    """A time as its cell shows it: local, with how long ago as its title."""
    moment = local_datetime(ms, zone)  # once for both texts: 100 cells a page
    if moment is None:
        return format_html('<time datetime="" title="{}">{}</time>', relative(ms, now), invalid_time(ms))
    iso = moment.isoformat(timespec="milliseconds")
    # Digits and signs, and relative()'s few words: nothing to escape, and
    # format_html's escaping was half of a cell's cost. The shown time is
    # TIME_FORMAT read off the ISO text (years 1969-9999 have four digits).
    return SafeString(f'<time datetime="{iso}" title="{relative(ms, now)}">{iso[:10]} {iso[11:19]}</time>')


def started_html(row: dict, now: int, zone: tzinfo) -> SafeString:
    """When the job started; "queued" (since when, as its title) before that."""
    if row["running_time"] is not None:
        return time_html(row["running_time"], now, zone)
    if row["pending_time"] is not None:
        return format_html(
            '<span class="muted" title="queued {}">queued</span>', relative(row["pending_time"], now)
        )
    return NOTHING


def finished_html(row: dict, now: int, zone: tzinfo) -> SafeString:
    """When the job finished, or was deleted."""
    ended = row["finished_time"] or row["deleted_time"]
    return NOTHING if ended is None else time_html(ended, now, zone)


def run_time(row: dict, now: int) -> str:
    """How long the job ran, or has been running; nothing for odd times."""
    started, finished = row["running_time"], row["finished_time"]
    if started is None or (finished is None and row["state"] != State.RUNNING):
        return ""
    took = (finished if finished is not None else now) - started
    return format_duration(took) if took >= 0 else ""


def hint_html(hint: Hint) -> SafeString:
    """A figure's hint, as its cell shows it after the figure. Built here, not
    by an include in the row template: a page has up to 200 of them."""
    worse = " worse" if hint.bad else ""
    # The space parts it from the figure before it. Escaped as format_html
    # would, without its lazy-text checks: up to 200 hints a page.
    return SafeString(
        f' <span class="usual{worse}" title="{escape(hint.title)}"><span class="visually-hidden">'
        f"{escape(hint.figure)} </span>{escape(hint.change)}</span>"
    )


# Every figure, so that the template's `job.hints.items` finds its key: on a
# miss Django's lookup falls back to the dict's own `items` method.
NO_HINTS: dict[str, SafeString] = dict.fromkeys(FIGURES, NOTHING)


def hints_by_figure(compared: tuple[Run, Usual | None] | None) -> dict[str, SafeString]:
    """{figure: its hint's HTML, empty for a figure near the spider's usual}."""
    if compared is None:
        return NO_HINTS
    return NO_HINTS | {hint.figure: hint_html(hint) for hint in hints_of(*compared)}


def row_of(
    row: dict,
    spider_names: Mapping[int, str],
    now: int,
    links: FilterLinks,
    compared: tuple[Run, Usual | None] | None = None,
) -> dict:
    """What the row template shows for a dict of `listing.ROW_COLUMNS` (and
    `ROW_EXPRESSIONS`); `compared` is the job's run and its spider's usual
    (health.usual_for_rows)."""
    state = row["state"]
    spider = spider_names.get(row["spider_id"], "")
    badge = badge_of(state, row["close_reason"])
    # A running job whose cancellation was asked for runs until its runner
    # stops it; a pending one is finished at once, so never shows this.
    cancel_requested = state == State.RUNNING and bool(row.get("cancel_requested"))
    zone = get_current_timezone()
    key = row["key"]
    return {
        "id": SafeString(row["id"]),
        "key": html(key),
        "url": html(job_detail_url(key)),
        "spider": html(spider),
        "spider_url": html(links.adding("spider", spider)),
        "state": html(state),
        "badge": html(badge),
        "badge_label": html(badge_label(badge)),
        "hints": hints_by_figure(compared),
        "live": state in LIVE_STATES,
        "cancel_requested": cancel_requested,
        "cancel_url": html(links.cancel(key)) if state in LIVE_STATES and not cancel_requested else NOTHING,
        "close_reason": html(row["close_reason"] or ""),
        "items": html(number(row["items"])),
        "pages": html(number(row["pages"])),
        "errors": html(number(row["errors"])),
        "error_count": row["errors"] or 0,
        "duration": html(run_time(row, now)),
        "started": started_html(row, now, zone),
        "finished": finished_html(row, now, zone),
        "tags": [(html(tag), html(links.adding("has_tag", tag))) for tag in row["tags"]],
    }

"""A job's outcome: how a finished job ended, derived from its state and close
reason in this one place. The list's badges and filter, the detail page, the
chart, the spiders overview and the alert rules all ask here.

A job that has not finished (pending, running) or was deleted has no outcome;
its badge is its state. A finished job's outcome groups Scrapy's close reasons
(and the usual ones of Scrapy Cloud runners) into a few kinds that need
different reactions: a clean finish, a failure, a cancellation, a configured
limit, a shutdown, a memory or time limit. A reason jobq does not know is
`other` (a spider's own `CloseSpider("banned")`, say). A finished job
without a close reason counts as `finished`: many clients never send one,
and nothing says that such a run went wrong.
"""

from collections.abc import Iterable
from typing import NamedTuple

from django.db.models import Q

from .models import State


class Outcome(NamedTuple):
    value: str
    # What a badge says, and a sentence for its title and the filter.
    label: str
    description: str
    # The close reasons it groups; `other` has none (it is everything else).
    reasons: tuple[str, ...]
    # A run ending so is a run that went as planned: it counts as a success
    # on the spiders overview, and towards the spider's usual figures.
    healthy: bool


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("finished", "finished", "Ran to completion: nothing left to crawl.", ("finished",), True),
    Outcome(
        "failed",
        "failed",
        "Failed or was killed before Scrapy closed the spider.",
        ("failed", "killed"),
        False,
    ),
    Outcome(
        "cancelled",
        "cancelled",
        "Cancelled by someone before it finished.",
        ("cancelled", "cancel_timeout"),
        False,
    ),
    Outcome(
        "limit",
        "stopped by a limit",
        "Stopped by a CLOSESPIDER_* item, page or error limit.",
        (
            "closespider_itemcount",
            "closespider_pagecount",
            "closespider_errorcount",
            "closespider_pagecount_no_item",
            "closespider_timeout_no_item",
        ),
        True,
    ),
    Outcome(
        "timeout",
        "time limit",
        "Stopped after running for CLOSESPIDER_TIMEOUT seconds.",
        ("closespider_timeout",),
        True,
    ),
    Outcome(
        "memory",
        "memory limit",
        "Stopped by Scrapy's MemoryUsage extension (MEMUSAGE_LIMIT_MB).",
        ("memusage_exceeded",),
        False,
    ),
    Outcome(
        "shutdown",
        "shutdown",
        "Stopped by a shutdown signal (Ctrl-C, SIGTERM, the runner stopping).",
        ("shutdown",),
        False,
    ),
    Outcome("other", "other reason", "Closed with another reason, or none.", (), False),
)
BY_VALUE = {outcome.value: outcome for outcome in OUTCOMES}
OUTCOME_VALUES = tuple(BY_VALUE)
OTHER = BY_VALUE["other"]
OUTCOME_OF_REASON = {reason: outcome for outcome in OUTCOMES for reason in outcome.reasons}
KNOWN_REASONS = tuple(OUTCOME_OF_REASON)
HEALTHY = frozenset(outcome.value for outcome in OUTCOMES if outcome.healthy)
HEALTHY_REASONS = tuple(reason for reason, outcome in OUTCOME_OF_REASON.items() if outcome.healthy)
# The badges of jobs without an outcome: their state.
STATE_BADGES: dict[str, str] = {
    State.PENDING: "pending",
    State.RUNNING: "running",
    State.DELETED: "deleted",
}


FINISHED = BY_VALUE["finished"]


def outcome_of(close_reason: str | None) -> Outcome:
    """The outcome of a finished job with this close reason."""
    if not close_reason:
        return FINISHED
    return OUTCOME_OF_REASON.get(close_reason, OTHER)


def badge_of(state: str, close_reason: str | None) -> str:
    """What a job's badge shows: its outcome when finished, else its state.
    Also the CSS class (`b-<badge>`) and the chart's stack key."""
    if state == State.FINISHED:
        return outcome_of(close_reason).value
    return STATE_BADGES.get(state, state)


def badge_label(badge: str) -> str:
    outcome = BY_VALUE.get(badge)
    return outcome.label if outcome is not None else badge


def is_healthy(close_reason: str | None) -> bool:
    return outcome_of(close_reason).healthy


def outcome_q(values: Iterable[str]) -> Q:
    """Finished jobs whose outcome is one of `values`.

    Every outcome but `finished` also excludes close reason "finished" the way
    the partial index `job_unclean_ts` is defined, so the database sees that
    the index covers the query and walks it (it holds the few jobs that did
    not finish cleanly, newest first)."""
    wanted = set(values)
    reasons = [reason for value in wanted for reason in BY_VALUE[value].reasons]
    query = Q(close_reason__in=reasons)
    if FINISHED.value in wanted:
        query |= Q(close_reason="") | Q(close_reason__isnull=True)
    if OTHER.value in wanted:
        query |= ~Q(close_reason__in=[*KNOWN_REASONS, ""]) & Q(close_reason__isnull=False)
    query = Q(state=State.FINISHED) & query
    if "finished" not in wanted:
        query &= ~Q(close_reason="finished")
    return query

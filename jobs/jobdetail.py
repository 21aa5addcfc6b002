"""What the job detail page says about a job, as plain functions of its
metadata: the timeline with durations, the close reason in plain words and
the Scrapy stats grouped by prefix. No database access here."""

from collections import defaultdict
from typing import NamedTuple

# Scrapy's own close reasons and the usual ones of Scrapy Cloud runners.
CLOSE_REASONS = {
    "finished": "The spider ran to completion: it had nothing left to crawl.",
    "cancelled": "Someone cancelled the job (from the dashboard, the API or the command line) before it finished.",
    "cancel_timeout": "The job was cancelled and did not stop in time, so its process was killed.",
    "shutdown": "The crawl was stopped by a shutdown signal (Ctrl-C, SIGTERM or the runner stopping), not by the spider.",
    "memusage_exceeded": "Scrapy's MemoryUsage extension stopped the spider: its memory went over MEMUSAGE_LIMIT_MB.",
    "closespider_timeout": "The CloseSpider extension stopped the spider after it ran for CLOSESPIDER_TIMEOUT seconds.",
    "closespider_timeout_no_item": "The CloseSpider extension stopped the spider: it scraped no item for CLOSESPIDER_TIMEOUT_NO_ITEM seconds.",
    "closespider_itemcount": "The CloseSpider extension stopped the spider after it scraped CLOSESPIDER_ITEMCOUNT items.",
    "closespider_pagecount": "The CloseSpider extension stopped the spider after it received CLOSESPIDER_PAGECOUNT responses.",
    "closespider_pagecount_no_item": "The CloseSpider extension stopped the spider: CLOSESPIDER_PAGECOUNT_NO_ITEM responses in a row gave no item.",
    "closespider_errorcount": "The CloseSpider extension stopped the spider after CLOSESPIDER_ERRORCOUNT errors.",
    "failed": "The job failed: its process ended with an error before Scrapy closed the spider. The log says why.",
    "killed": "The job's process was killed (by an operator, or by the system running out of memory).",
    "no_reason": "The spider closed without giving a reason.",
}
GENERIC_CLOSE_REASON = (
    "The spider closed with its own reason: usually a CloseSpider exception raised by "
    "the spider's code or by an extension. The spider's log tells more."
)
STEPS = (
    ("pending_time", "Pending", "queued"),
    ("running_time", "Running", "started"),
    ("finished_time", "Finished", "finished"),
    ("deleted_time", "Deleted", "deleted"),
)


def close_reason_text(reason, state=None):
    """A sentence that explains a close reason to someone who never read Scrapy's code."""
    if reason is None or reason == "":
        if state in ("pending", "running"):
            return "The job has not finished yet, so it has no close reason."
        return "No close reason was recorded for this job."
    return CLOSE_REASONS.get(reason, GENERIC_CLOSE_REASON)


class Step(NamedTuple):
    field: str
    label: str
    verb: str
    ms: int
    # The time from this step to the next one (or to now, for the current step).
    duration_ms: int | None
    current: bool


def timeline(metadata, now_ms, ts=None):
    """The steps the job went through, oldest first, each with how long it lasted.

    The current step of a pending or running job lasts until now ("so far").
    A restored job (finished again after being deleted: it keeps its
    deleted_time, and `ts` is when it came back) gets a "Restored" step."""
    present = [
        (field, label, verb, metadata[field])
        for field, label, verb in STEPS
        if metadata.get(field) is not None
    ]
    state = metadata.get("state")
    deleted = metadata.get("deleted_time")
    if state == "finished" and deleted is not None and ts is not None and ts >= deleted:
        present.append(("ts", "Restored", "restored", ts))
    present.sort(key=lambda step: step[3])
    steps = []
    for index, (field, label, verb, ms) in enumerate(present):
        last = index + 1 == len(present)
        if not last:
            duration = present[index + 1][3] - ms
        elif state in ("pending", "running") and field == f"{state}_time":
            duration = max(now_ms - ms, 0)
        else:
            duration = None
        steps.append(Step(field, label, verb, ms, duration, last))
    return steps


def stat_prefix(name):
    """'downloader/request_count' -> 'downloader', 'item_scraped_count' -> 'item'."""
    if "/" in name:
        return name.split("/", 1)[0]
    return name.split("_", 1)[0]


def stats_groups(scrapystats):
    """[(prefix, [(name, value), …]), …] sorted by prefix, then by name.

    Prefixes with a single stat go together at the end under 'other', so
    the page does not show a heading per lonely number."""
    if not isinstance(scrapystats, dict) or not scrapystats:
        return []
    groups = defaultdict(list)
    for name, value in scrapystats.items():
        groups[stat_prefix(str(name))].append((str(name), value))
    other = []
    result = []
    for prefix in sorted(groups):
        stats = sorted(groups[prefix])
        if len(stats) == 1:
            other.extend(stats)
        else:
            result.append((prefix, stats))
    if other:
        result.append(("other", sorted(other)))
    return result

"""Factories for spider-health tests: a spider's history of finished runs
(imported, as old jobs arrive) and a run that ends now (through the same
lifecycle calls as the API: push, start, update)."""

from jobs import lifecycle
from jobs.models import Project

from .factories import BASE_TS, add_jobs, job_line

MINUTE = 60_000
HOUR = 60 * MINUTE


def history(
    spider="books",
    spider_number=1,
    *,
    runs=10,
    items=1000,
    start=BASE_TS,
    every=HOUR,
    reason="finished",
    first=1,
):
    """`runs` finished runs, one every `every` ms, each lasting 10 minutes; returns their keys."""
    lines = []
    for index in range(runs):
        started = start + index * every
        lines.append(
            finished_run(
                first + index,
                started,
                10 * MINUTE,
                spider=spider,
                spider_number=spider_number,
                pending_time=started - MINUTE,
                close_reason=reason,
                items=items,
                pages=items * 2,
                errors=0,
            )
        )
    return add_jobs(*lines)


def finished_run(number, started, took, **meta):
    """The job line of run `number`, started at `started` and finished `took` ms later (then its ts)."""
    meta.setdefault("close_reason", "finished")
    return job_line(
        number=number, ts=started + took, running_time=started, finished_time=started + took, **meta
    )


def end_run(
    project: Project,
    spider="books",
    *,
    reason="finished",
    items=1000,
    errors=0,
    tags=(),
    stats=None,
    now=None,
):
    """A run pushed, started and finished now, as a Scrapy Cloud runner does it; returns its key."""
    [answer] = lifecycle.push_jobs(
        project=project,
        pushes=[lifecycle.push_request({"spider": spider, "tags": list(tags)}, project=project)],
    )
    key = answer["key"]
    lifecycle.update_jobs(
        project=project, updates=[lifecycle.update_request({"key": key, "state": "running"}, project=project)]
    )
    finish = {"key": key, "state": "finished", "close_reason": reason, "errors": errors}
    if items is not None:
        finish.update(items=items, pages=items * 2)
    if stats is not None:
        finish["scrapystats"] = stats
    lifecycle.update_jobs(
        project=project, updates=[lifecycle.update_request(finish, project=project)], now=now
    )
    return key

"""Spidermon, unchanged, against jobq.

In the worker's environment, Spidermon's ZyteJobsComparisonMonitor lists the
spider's previous jobs through the scrapinghub client (GET /ids/…/spider/…,
then /jobq/…/list?spider=…&state=finished&count=3), and its AddJobTags and
RemoveJobTags actions read and write the running job's tags (GET and POST
/jobs/…/tags). The `monitored` spider's suite (testbot/monitors.py) wants at
least 80% of the mean item count of the 3 newest finished jobs.
"""

import pytest

from ..factories import BASE_TS, add_jobs, job_line
from .conftest import job_of, push

HOUR = 3_600_000


def previous_job(
    number, items, *, spider="monitored", spider_number=7, state="finished", hours_ago, **metadata
):
    return job_line(
        spider=spider,
        spider_number=spider_number,
        number=number,
        state=state,
        ts=BASE_TS + 100 * HOUR - hours_ago * HOUR,
        close_reason="finished",
        scrapystats={"item_scraped_count": items},
        **metadata,
    )


@pytest.mark.parametrize(
    ("items", "passes"), [(8, True), (7, False)], ids=["at-the-threshold", "one-below-it"]
)
def test_the_jobs_comparison_monitor_passes_and_fails_as_its_threshold_says(
    project, shub, worker, items, passes
):
    add_jobs(
        # The 3 newest finished jobs of the spider: 10, 11 and 9 items, a mean
        # of 10, so a threshold of 8.
        previous_job(4, 10, hours_ago=1),
        previous_job(3, 11, hours_ago=2),
        previous_job(2, 9, hours_ago=3),
        # Jobs that must not count: older, deleted, of another spider.
        previous_job(1, 1000, hours_ago=4),
        previous_job(5, 1000, state="deleted", hours_ago=0),
        previous_job(1, 1000, spider="books", spider_number=1, hours_ago=0),
    )
    key = push(shub, "monitored", spider_args={"items": str(items)}, tags=["nightly", "unchecked"])

    run = worker("--exit-when-empty")
    assert run.wait() == 0, run.output
    meta = job_of(shub, key)
    log = run.crawl_log(key)
    assert (meta["close_reason"], meta["items"]) == ("finished", items)
    verdict = "OK" if passes else "FAIL"
    assert f"[Spidermon] Jobs Comparison Monitor/test_stat_monitor... {verdict}\n" in log, log
    if passes:
        assert meta["tags"] == ["nightly"]  # RemoveJobTags took "unchecked" away
    else:
        assert f"Expecting 'item_scraped_count' to be '>=' to '8.0'. Current value: '{items}.0'" in log
        assert meta["tags"] == ["nightly", "unchecked", "item-drop"]  # AddJobTags added "item-drop"


def test_the_jobs_comparison_by_arguments_counts_only_runs_with_those_arguments(project, shub, worker):
    books, toys = {"category": "books"}, {"category": "toys"}
    spider = {"spider": "monitored_by_args", "spider_number": 8}
    add_jobs(
        # Runs with {"category": "books"}: a mean of 10 items, a threshold of 8.
        previous_job(3, 10, hours_ago=2, spider_args=books, **spider),
        previous_job(2, 11, hours_ago=3, spider_args=books, **spider),
        previous_job(1, 9, hours_ago=4, spider_args=books, **spider),
        # Newer runs with other arguments: counted, they would fail the run.
        # (Spidermon reads job["spider_args"] without a default, so every
        # previous run must have arguments, on Scrapy Cloud as here.)
        previous_job(5, 1000, hours_ago=0, spider_args=toys, **spider),
        previous_job(4, 1000, hours_ago=1, spider_args={"category": "books", "page": "2"}, **spider),
    )
    key = push(shub, "monitored_by_args", spider_args={"items": "8"}, tags=["unchecked"])

    run = worker("--exit-when-empty")
    assert run.wait() == 0, run.output
    log = run.crawl_log(key)
    assert "[Spidermon] Jobs Comparison Monitor/test_stat_monitor... OK\n" in log, log
    assert job_of(shub, key)["tags"] == []  # RemoveJobTags took "unchecked" away

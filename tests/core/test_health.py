"""Spider health figures kept by lifecycle and the importer (jobs/health/):
always what a rebuild from the jobs finds."""

import random

import pytest
from django.http import QueryDict

from jobs import health, lifecycle
from jobs.jobmeta import now_ms
from jobs.listing import page_of, parse_list_request
from jobs.models import Job, SpiderHealth
from jobs.outcomes import outcome_of

from ..factories import BASE_TS, add_jobs, job_line
from ..health_factories import end_run, finished_run, history


def figures():
    return {
        health.spider_id: (
            health.runs,
            {day: counts for day, counts in health.days.items() if counts},
            health.last_started,
        )
        for health in SpiderHealth.objects.order_by("spider_id")
    }


def assert_same_as_rebuilt():
    kept = figures()
    health.rebuild()
    assert figures() == kept


def test_runs_ending_deleted_and_restored_keep_the_figures_exact(project):
    history(runs=35, items=100)
    end_run(project, reason="failed", items=3)
    key = end_run(project, reason="finished", items=500)
    assert_same_as_rebuilt()
    row = SpiderHealth.objects.get()
    assert len(row.runs) == health.RUNS_KEPT and row.runs[-1][4] == 500
    assert outcome_of(row.runs[-2][3]).value == "failed"
    lifecycle.change_state(Job.objects.filter(key=key), "deleted")
    assert_same_as_rebuilt()
    assert SpiderHealth.objects.get().runs[-1][4] == 3
    lifecycle.change_state(Job.objects.filter(key=key), "finished")
    assert_same_as_rebuilt()


def test_stats_sent_after_the_finish_update_the_run(project):
    history(runs=6)
    key = end_run(project, items=None)
    lifecycle.update_jobs(
        project=project, updates=[lifecycle.update_request({"key": key, "items": 77}, project=project)]
    )
    assert SpiderHealth.objects.get().runs[-1][4] == 77
    assert_same_as_rebuilt()


def test_imports_keep_them_in_any_order(project):
    lines = [
        job_line(
            number=n,
            close_reason="finished",
            items=n,
            running_time=1_700_000_000_000 + n,
            finished_time=1_700_000_000_000 + n + 5,
        )
        for n in range(40, 0, -1)
    ]
    add_jobs(*lines)
    assert_same_as_rebuilt()
    assert [run[0] for run in SpiderHealth.objects.get().runs] == list(range(11, 41))


def test_imports_that_change_stored_jobs_keep_them_exact(project):
    def line(n, **changes):
        job = {"close_reason": "finished", "items": n, "running_time": 1_700_000_000_000 + n * 10}
        job["finished_time"] = job["running_time"] + 5
        return job_line(number=n, **{**job, **changes})

    add_jobs(*(line(n) for n in range(1, 41)))
    # Again, with runs deleted, failed, their figures changed, and new ones:
    # the figures folded from the lines as written, not read back.
    add_jobs(
        *(line(n, state="deleted", deleted_time=1_700_000_001_000) for n in range(36, 41)),
        *(line(n, close_reason="failed", items=0) for n in range(30, 33)),
        line(20, items=999),
        *(line(n) for n in range(41, 45)),
    )
    assert_same_as_rebuilt()
    runs = SpiderHealth.objects.get().runs
    assert [run[0] for run in runs][-4:] == [41, 42, 43, 44] and 38 not in [run[0] for run in runs]


def test_the_usual_leaves_out_runs_that_went_wrong():
    runs = [health.Run(n, 0, 60_000, "finished", 1000, 10, 0) for n in range(4)]
    assert health.usual_of(runs) is None  # fewer than MIN_RUNS
    runs += [health.Run(9, 0, 60_000, "failed", 0, 0, 9), health.Run(10, 0, 60_000, "finished", 1200, 10, 0)]
    usual = health.usual_of(runs)
    assert usual is not None and usual.runs == 5 and usual.of("items") == 1000
    [hint] = health.hints_of(health.Run(11, 0, 60_000, "finished", 380, 10, 0), usual)
    assert (hint.figure, hint.change, hint.bad) == ("items", "−62%", True)


def test_list_rows_compare_with_the_kept_runs_when_they_suffice(project, django_assert_num_queries):
    from jobs.listing import ROW_COLUMNS

    history(runs=30, items=1000)
    end_run(project, items=300)
    rows = list(Job.objects.filter(state="finished").newest_first().values(*ROW_COLUMNS)[:5])
    # The spider's kept runs only: no walk of the jobs.
    with django_assert_num_queries(1):
        kept = health.usual_for_rows(rows)
    walked = health.previous_runs(rows)
    for row in rows:
        assert kept[row["id"]][1] == health.usual_of(walked[row["id"]])
    newest = kept[rows[0]["id"]]
    assert newest[0].items == 300 and newest[1].of("items") == 1000
    # Older rows, with too few kept runs before them, add one walk for all.
    older = list(Job.objects.filter(state="finished").newest_first().values(*ROW_COLUMNS)[20:25])
    with django_assert_num_queries(2):
        assert len(health.usual_for_rows(older)) == 5


def test_the_usuals_worked_out_from_kept_runs_follow_each_run_that_ends(project):
    from jobs.listing import ROW_COLUMNS

    def newest_usual():
        row = Job.objects.filter(state="finished").newest_first().values(*ROW_COLUMNS)[0]
        return health.usual_for_rows([row])[row["id"]][1]

    history(runs=30, items=1000)
    end_run(project, items=1000)
    assert newest_usual().of("items") == 1000
    assert newest_usual() is newest_usual()  # the same kept runs: worked out once in this process
    # Eleven healthy runs of 3,000 items: the newest run's twenty before it are 10 × 3,000 and 10 × 1,000.
    for _ in range(11):
        end_run(project, items=3000)
    assert newest_usual().of("items") == 2000
    # A failed run is kept but not healthy: the next run's usual leaves it out.
    end_run(project, reason="failed", items=5)
    end_run(project, items=3000)
    assert newest_usual().of("items") == 3000 and newest_usual().runs == 20


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_list_rows_of_any_filter_get_the_usual_of_their_job_pages(project, seed):
    """On random histories (failures in streaks, tags from common to rare),
    every finished row of filtered and deep pages is compared with the same
    usual as its job's page: however far apart a spider's rows lie, and
    however many runs before them went wrong."""
    rng = random.Random(seed)
    lines = []
    for spider_number, spider in enumerate(("alpha", "beta", "gamma"), start=1):
        failing = 0
        for number in range(1, 151):
            if failing == 0 and rng.random() < 0.05:
                failing = rng.randint(5, 40)  # a streak of failures, longer than LIST_SLACK at times
            failing = max(failing - 1, 0)
            started = BASE_TS + (number * 3 + spider_number) * 600_000
            lines.append(
                finished_run(
                    number,
                    started,
                    300_000,
                    spider=spider,
                    spider_number=spider_number,
                    close_reason="failed" if failing else "finished",
                    items=rng.randint(0, 2000),
                    pages=rng.randint(0, 2000),
                    errors=rng.randint(0, 30),
                    tags=[
                        tag
                        for tag, share in (("common", 0.5), ("some", 0.1), ("rare", 0.02))
                        if rng.random() < share
                    ],
                )
            )
    add_jobs(*lines)
    for params in (
        "state=finished",
        "has_tag=common",
        "has_tag=some",
        "has_tag=rare",
        "lacks_tag=common",
        "outcome=failed",
    ):
        listing_request = parse_list_request(project, QueryDict(params), now=now_ms())
        page = page_of(listing_request.jobfilter.qs, listing_request.cursor)
        pages = [page.rows]
        while page.older and len(pages) < 6:  # deep pages too, by their keyset cursor
            deeper = QueryDict(f"{params}&before={page.rows[-1]['key']}")
            listing_request = parse_list_request(project, deeper, now=now_ms())
            page = page_of(listing_request.jobfilter.qs, listing_request.cursor)
            pages.append(page.rows)
        for rows in pages:
            usual = health.usual_for_rows(rows)
            for row in rows:
                assert usual[row["id"]][1] == health.comparison_of(Job.objects.get(pk=row["id"])).usual, (
                    params,
                    row["key"],
                )


def test_a_long_chain_of_rows_gets_the_usual_of_each_job_page(project):
    """A tag on every 20th of 400 runs: the tagged rows are neighbours, one
    chain spanning 380 runs, more than one walk of WALK_CAP reaches. The
    oldest of them are walked on their own, and match their job pages."""
    lines = []
    for number in range(1, 401):
        started = BASE_TS + number * 600_000
        lines.append(
            finished_run(number, started, 300_000, items=number, tags=["every20"] if number % 20 == 0 else [])
        )
    add_jobs(*lines)
    listing_request = parse_list_request(project, QueryDict("has_tag=every20"), now=now_ms())
    rows = page_of(listing_request.jobfilter.qs, listing_request.cursor).rows
    assert [row["number"] for row in rows] == list(range(400, 0, -20))
    usual = health.usual_for_rows(rows)
    for row in rows:
        expected = health.comparison_of(Job.objects.get(pk=row["id"])).usual
        assert usual[row["id"]][1] == expected, row["key"]
    # Run 80, past the shared walk's reach, has the usual of the 20 runs before it.
    [eighty] = [row for row in rows if row["number"] == 80]
    assert usual[eighty["id"]][1] == health.Usual(
        {"items": 69.5, "pages": None, "errors": None, "duration": 300_000}, 20
    )

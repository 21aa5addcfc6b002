"""The job detail page: /p/<project>/job/<spider>/<job>/."""

import pytest
from django.test import Client

from jobs.formatting import format_duration
from jobs.jobdetail import close_reason_text, stats_groups, timeline

from ..factories import BASE_TS, add_job, add_jobs, job_line, store_times
from ..health_factories import finished_run

URL = "/p/53/job/1/{}/"


@pytest.fixture
def job(project):
    """A finished job with everything the page shows."""
    add_job(
        number=7,
        state="finished",
        ts=BASE_TS + 600_000,
        pending_time=BASE_TS,
        running_time=BASE_TS + 3_000,
        finished_time=BASE_TS + 600_000,
        close_reason="closespider_itemcount",
        spider_args={"category": "poetry", "max_pages": 3, "nested": {"deep": True}},
        scrapystats={
            "downloader/request_count": 120,
            "downloader/response_count": 118,
            "item_scraped_count": 1000,
            "item_dropped_count": 4,
            "log_count/ERROR": 2,
            "log_count/INFO": 40,
            "finish_reason": "closespider_itemcount",
            "custom/flag": False,
        },
        tags=["nightly", "ünïcode"],
        version="1.4.2",
        custom_field={"nested": [1, 2]},
    )
    return "53/1/7"


def test_owner_sees_everything(client, owner, job):
    client.force_login(owner)
    response = client.get(URL.format(7))
    assert response.status_code == 200
    html = response.content.decode()
    # metadata, custom fields included
    assert "1.4.2" in html and "custom_field" in html and "{&quot;nested&quot;: [1, 2]}" in html
    # timeline with durations, in the user's zone (UTC here), the zone named
    assert "Pending" in html and "Running" in html and "Finished" in html
    assert "2023-11-14 22:13:20 UTC" in html  # BASE_TS
    assert "for 3 s" in html and "for 9 min 57 s" in html
    # close reason in plain words
    assert "closespider_itemcount" in html and "CLOSESPIDER_ITEMCOUNT items" in html
    # spider args
    assert "category" in html and "poetry" in html
    # objects and booleans as JSON, never Python's repr
    assert "{&quot;deep&quot;: true}" in html and "False" not in html and "True" not in html
    # stats grouped by prefix
    for prefix in (
        "<caption>downloader</caption>",
        "<caption>item</caption>",
        "<caption>log_count</caption>",
    ):
        assert prefix in html
    assert "1,000" in html
    # breadcrumbs to the list of every live job, and of this spider's
    assert 'href="/p/53/?state=pending&amp;state=running&amp;state=finished"' in html
    assert 'href="/p/53/?state=pending&amp;state=running&amp;state=finished&amp;spider=books"' in html
    # tags and their editor
    assert "nightly" in html and "ünïcode" in html
    assert 'action="/p/53/job/1/7/tags/"' in html
    assert '<label for="new-tag">Add a tag</label>' in html
    # the same job in the API
    assert "http://testserver/jobs/53/1/7" in html
    assert "http://testserver/jobq/53/jobsummary?key=53/1/7" in html
    assert 'endpoint="http://testserver/"' in html and 'client.get_job("53/1/7")' in html


def test_member_and_superuser_see_it(client, member, superuser, job):
    for user in (member, superuser):
        client.force_login(user)
        assert client.get(URL.format(7)).status_code == 200


def test_outsider_gets_404(client, outsider, job):
    client.force_login(outsider)
    assert client.get(URL.format(7)).status_code == 404


def test_anonymous_goes_to_login(client, job):
    response = client.get(URL.format(7))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_missing_job_and_huge_numbers_are_404(client, owner, job):
    client.force_login(owner)
    assert client.get(URL.format(8)).status_code == 404
    assert client.get("/p/53/job/1/99999999999999999999999/").status_code == 404
    assert client.get("/p/99999999999999999999999/job/1/7/").status_code == 404
    # a job of another project under this project's URL
    add_job(project_id=54, spider="other", number=3)
    assert client.get("/p/53/job/1/3/").status_code == 404


def test_previous_and_next_run_of_the_same_spider(client, owner, project):
    add_jobs(
        job_line(number=1, ts=BASE_TS + 1000),
        job_line(number=2, ts=BASE_TS + 2000),
        job_line(number=3, ts=BASE_TS + 2000),  # same ts: the id breaks the tie
        job_line(number=4, ts=BASE_TS + 3000, state="deleted"),  # deleted runs are skipped
        job_line(number=5, ts=BASE_TS + 4000),
        job_line(spider="other", spider_number=2, number=6, ts=BASE_TS + 2500),
    )
    client.force_login(owner)
    html = client.get(URL.format(2)).content.decode()
    assert 'rel="prev" href="/p/53/job/1/1/"' in html
    assert 'rel="next" href="/p/53/job/1/3/"' in html
    html = client.get(URL.format(3)).content.decode()
    assert 'rel="prev" href="/p/53/job/1/2/"' in html
    assert 'rel="next" href="/p/53/job/1/5/"' in html
    html = client.get(URL.format(1)).content.decode()
    assert "No earlier run" in html
    html = client.get(URL.format(5)).content.decode()
    assert "No later run" in html


def test_htmx_gets_the_job_partial_others_the_page(client, owner, job):
    client.force_login(owner)
    full = client.get(URL.format(7))
    assert b"<html" in full.content and b'id="job"' in full.content
    assert "HX-Request" in full["Vary"]
    partial = client.get(URL.format(7), headers={"HX-Request": "true"})
    assert partial.status_code == 200
    html = partial.content.decode()
    assert "<html" not in html and '<article id="job"' in html
    assert html.lstrip().startswith("<title>books 53/1/7 · jobq</title>")
    # a history restore (htmx's cache missed) needs the whole page
    restore = client.get(URL.format(7), headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert b"<html" in restore.content


def test_query_count(client, owner, job, django_assert_num_queries):
    client.force_login(owner)
    # session, user, project access, job with its spider, its spider's
    # previous finished runs (the usual and the chart's older runs: one walk of
    # job_spider_ts), the newer runs for the chart, the previous and the next
    # run (one statement), tag suggestions
    with django_assert_num_queries(8):
        assert client.get(URL.format(7)).status_code == 200


def test_running_job_without_stats(client, owner, project):
    add_job(number=9, state="running", pending_time=BASE_TS - 60_000, running_time=BASE_TS, ts=BASE_TS)
    client.force_login(owner)
    html = client.get(URL.format(9)).content.decode()
    assert "so far" in html
    assert "has not finished yet" in html
    assert "No Scrapy stats were recorded" in html
    assert "ran without spider arguments" in html


def test_times_in_the_users_zone(client, owner, job):
    client.force_login(owner)
    client.cookies["tz"] = "Asia/Tokyo"
    html = client.get(URL.format(7)).content.decode()
    assert "2023-11-15 07:13:20 JST" in html and "Asia/Tokyo" in html


# --- the pure helpers -----------------------------------------------------


@pytest.mark.parametrize(
    "reason, words",
    [
        ("finished", "ran to completion"),
        ("cancelled", "cancelled"),
        ("shutdown", "shutdown signal"),
        ("memusage_exceeded", "MEMUSAGE_LIMIT_MB"),
        ("closespider_timeout", "CLOSESPIDER_TIMEOUT seconds"),
        ("closespider_itemcount", "CLOSESPIDER_ITEMCOUNT"),
        ("closespider_errorcount", "CLOSESPIDER_ERRORCOUNT"),
        ("failed", "failed"),
        ("banned_by_site", "its own reason"),
        (None, "No close reason"),
    ],
)
def test_close_reasons_in_plain_words(reason, words):
    assert words in close_reason_text(reason, "finished")


def test_durations():
    assert [format_duration(ms) for ms in (850, 42_000, 185_000, 7_800_000, 90_000_000)] == [
        "850 ms",
        "42 s",
        "3 min 5 s",
        "2 h 10 min",
        "1 d 1 h",
    ]


def test_timeline_of_a_restored_job():
    meta = {
        "state": "finished",
        "pending_time": 0,
        "running_time": 1000,
        "finished_time": 5000,
        "deleted_time": 9000,
    }
    steps = timeline(meta, now_ms=20_000, ts=12_000)
    assert [(s.label, s.duration_ms, s.current) for s in steps] == [
        ("Pending", 1000, False),
        ("Running", 4000, False),
        ("Finished", 4000, False),
        ("Deleted", 3000, False),
        ("Restored", None, True),
    ]


def test_timeline_of_a_deleted_and_a_running_job():
    meta = {"state": "deleted", "pending_time": 0, "finished_time": 5000, "deleted_time": 9000}
    assert [(s.label, s.duration_ms) for s in timeline(meta, now_ms=20_000, ts=9000)] == [
        ("Pending", 5000),
        ("Finished", 4000),
        ("Deleted", None),
    ]
    meta = {"state": "running", "pending_time": 0, "running_time": 1000}
    steps = timeline(meta, now_ms=20_000, ts=1000)
    assert [(s.label, s.duration_ms, s.current) for s in steps] == [
        ("Pending", 1000, False),
        ("Running", 19_000, True),
    ]


def test_stats_groups_put_lonely_prefixes_under_other():
    groups = stats_groups({"a/x": 1, "a/y": 2, "start_time": "t", "memusage/max": 5})
    assert groups == [("a", [("a/x", 1), ("a/y", 2)]), ("other", [("memusage/max", 5), ("start_time", "t")])]


def test_csrf_client_can_read_the_page(owner, job):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(URL.format(7)).status_code == 200


def test_the_python_snippet_works_against_jobq(shub, project):
    """The snippet the page shows, run through the official client."""
    add_job(number=7, close_reason="shutdown")
    assert shub.get_job("53/1/7").metadata.get("close_reason") == "shutdown"


def test_the_usual_of_all_runs_or_of_runs_with_the_same_arguments_or_tags(client, owner, project):
    hour = 3_600_000
    lines = []
    for index in range(10):
        # Alternately: category "a" with the nightly tag (1,000 items), category "b" hourly (100).
        nightly = index % 2 == 0
        started = BASE_TS + index * hour
        lines.append(
            job_line(
                number=index + 1,
                ts=started + 600_000,
                running_time=started,
                finished_time=started + 600_000,
                close_reason="finished",
                items=1000 if nightly else 100,
                spider_args={"category": "a" if nightly else "b"},
                tags=["nightly"] if nightly else ["hourly"],
            )
        )
    started = BASE_TS + 20 * hour
    lines.append(
        job_line(
            number=20,
            ts=started + 600_000,
            running_time=started,
            finished_time=started + 600_000,
            close_reason="finished",
            items=500,
            spider_args={"category": "a"},
            tags=["hourly"],
        )
    )
    add_jobs(*lines)
    client.force_login(owner)

    def items_row(cohort):
        html = client.get(URL.format(20) + (f"?usual={cohort}" if cohort else "")).content.decode()
        row = html[html.index('<th scope="row">items</th>') :]
        return html, row[: row.index("</tr>")]

    html, row = items_row(None)
    assert '<strong aria-current="true">all runs</strong>' in html
    assert (
        '<a href="/p/53/job/1/20/?usual=args" hx-get="/p/53/job/1/20/?usual=args">runs with the same arguments</a>'
        in html
    )
    assert "median of the 10 runs before this one (all runs)" in html
    assert '<td class="num">500</td><td class="num">550</td><td class="num">−9%</td>' in row
    html, row = items_row("args")
    assert '<strong aria-current="true">runs with the same arguments</strong>' in html
    assert "median of the 5 runs before this one (runs with the same arguments)" in html
    assert '<td class="num">1,000</td><td class="num">−50%' in row
    html, row = items_row("tags")
    assert "median of the 5 runs before this one (runs with the same tags)" in html
    assert '<td class="num">100</td><td class="num">+400%' in row and "far from usual" in row
    # An unknown choice is all runs; htmx redraws the card alone.
    html, row = items_row("bogus")
    assert '<strong aria-current="true">all runs</strong>' in html
    card = client.get(URL.format(20) + "?usual=tags", headers={"HX-Request": "true", "HX-Target": "usual"})
    html = card.content.decode()
    assert html.lstrip().startswith('<section id="usual"') and "<html" not in html
    assert "(runs with the same tags)" in html


def test_the_compare_link_pairs_the_job_with_its_previous_run(client, owner, project):
    add_jobs(
        job_line(number=1, ts=BASE_TS + 1000, items=10),
        job_line(spider="other", spider_number=2, number=2, ts=BASE_TS + 1500),
        job_line(number=3, ts=BASE_TS + 2000, items=12),
    )
    client.force_login(owner)
    html = client.get(URL.format(3)).content.decode()
    link = 'href="/p/53/compare/?key=53/1/1&amp;key=53/1/3">Compare with the previous run</a>'
    assert link in html
    compared = client.get("/p/53/compare/?key=53/1/1&key=53/1/3")
    assert compared.status_code == 200
    page = compared.content.decode()
    assert "<td><code>10</code></td><td><code>12</code></td>" in page
    # The spider's first run has nothing to compare with.
    assert "Compare with the previous run" not in client.get(URL.format(1)).content.decode()


@pytest.mark.parametrize("value", [1_700_000_000_000_000, 2**63 - 1, -(2**63)])
def test_a_stored_time_that_is_not_a_date_reads_as_invalid(client, owner, job, value):
    # Written straight into the row, as before the API checked its times.
    store_times(job, ts=value, finished_time=value, running_time=value)
    client.force_login(owner)
    response = client.get(URL.format(7))
    assert response.status_code == 200
    assert f"invalid time {value}" in response.content.decode()


def test_an_unknown_usual_is_a_form_error_on_the_page(client, owner, job):
    client.force_login(owner)
    for value in ("bogus", "a\x00b", "x" * 300):
        response = client.get(URL.format(7), {"usual": value})
        assert response.status_code == 200
        html = response.content.decode()
        assert "usual: Select a valid choice" in html and 'id="usual"' in html


def test_the_charts_of_runs_mark_this_run_and_draw_the_usual(client, owner, project):
    # Five runs of 1,000 items (ten minutes each) and one that failed,
    # then the job: 500 items in twenty minutes, a run that went as planned.
    runs = [(number, 1000, "finished") for number in range(1, 6)] + [(6, 2000, "failed")]
    lines = [
        finished_run(number, BASE_TS + number * 3_600_000, 600_000, close_reason=reason, items=items)
        for number, items, reason in runs
    ]
    lines.append(finished_run(7, BASE_TS + 7 * 3_600_000, 1_200_000, items=500))
    add_jobs(*lines)
    client.force_login(owner)
    html = client.get(URL.format(7)).content.decode()
    items_chart = html[html.index('aria-label="items per run">') : html.index("</svg>")]
    # Seven runs: bars a seventh of the width apart, the tallest (2,000 items) 38 high.
    assert (
        '<rect class="bar-failed" x="72.857" y="2.0" width="11.429" height="38.0">'
        "<title>run 6: 2,000 items, failed</title></rect>"
    ) in items_chart
    assert (
        '<rect class="bar-finished this-run" x="87.143" y="30.5" width="11.429" height="9.5">'
        "<title>run 7: 500 items, finished (this run)</title></rect>"
    ) in items_chart
    assert items_chart.count("<rect ") == 7 and items_chart.count("this-run") == 1
    # The usual (the median of the five clean runs, 1,000 items) as a line at 40 - 19.
    assert '<line class="usual-line" x1="0" x2="100" y1="21.0" y2="21.0"/>' in items_chart
    duration_chart = html[html.index('aria-label="duration per run">') :]
    assert "<title>run 7: 20 min, finished (this run)</title>" in duration_chart

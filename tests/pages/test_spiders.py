"""The spiders overview (jobs/views/spiders.py, jobs/health/overview.py)."""

import re

import pytest

from jobs.health import rebuild
from jobs.jobmeta import now_ms
from jobs.models import Project

from ..factories import add_jobs, job_line, store_times
from ..health_factories import HOUR, MINUTE, history

URL = "/p/53/spiders/"


@pytest.mark.parametrize("who", ["owner", "member", "superuser"])
def test_people_of_the_project_see_it(client, project, who, request):
    client.force_login(request.getfixturevalue(who))
    assert client.get(URL).status_code == 200


def test_outsiders_get_404_and_strangers_the_login(client, project, outsider):
    assert client.get(URL).status_code == 302
    client.force_login(outsider)
    assert client.get(URL).status_code == 404


def recent_history(spider, number, **kwargs):
    kwargs.setdefault("start", now_ms() - 8 * HOUR - 30 * MINUTE)
    return history(spider, number, **kwargs)


def test_rows_needing_attention_come_first(client, owner):
    recent_history("calm", 1, runs=8)
    recent_history("dropped", 2, runs=8)
    recent_history("failing", 3, runs=8)
    recent_history("quiet", 4, runs=8, start=now_ms() - 30 * HOUR)
    now = now_ms()
    add_jobs(
        job_line(
            spider="dropped",
            spider_number=2,
            number=20,
            close_reason="finished",
            items=100,
            ts=now,
            finished_time=now,
            running_time=now - 10 * MINUTE,
        ),
        job_line(
            spider="failing",
            spider_number=3,
            number=20,
            close_reason="failed",
            ts=now,
            finished_time=now,
            running_time=now - MINUTE,
        ),
    )
    client.force_login(owner)
    html = client.get(URL).content.decode()
    order = [name for name in ("failing", "dropped", "quiet", "calm") if f'data-spider="{name}"' in html]
    positions = [html.index(f'data-spider="{name}"') for name in order]
    assert positions == sorted(positions) and len(order) == 4
    assert "last run: failed" in html and "items −90% on the last run" in html
    assert "no run for 23 h" in html and "usually every 1 h" in html
    assert "3 of 4 spiders need attention" in html
    only = client.get(URL + "?attention=1").content.decode()
    assert 'data-spider="calm"' not in only and 'data-spider="failing"' in only


def test_a_long_running_job_is_flagged(client, owner):
    recent_history("slow", 1, runs=8)
    started = now_ms() - 3 * HOUR
    add_jobs(job_line(spider="slow", number=30, state="running", running_time=started, ts=started))
    client.force_login(owner)
    html = client.get(URL).content.decode()
    assert "running for 3 h" in html and "usually 10 min" in html


def test_query_count_does_not_grow_with_spiders(client, owner, django_assert_num_queries):
    for number in range(1, 16):
        recent_history(f"spider{number:02}", number, runs=6)
    client.force_login(owner)
    # session, user, project access, the spiders with their health rows (one
    # join), the live jobs per spider and state (one aggregate)
    with django_assert_num_queries(5):
        html = client.get(URL).content.decode()
    assert html.count("data-spider=") == 15
    with django_assert_num_queries(5):
        assert (
            client.get(URL, HTTP_HX_REQUEST="true").content.decode().lstrip().startswith('<div id="spiders"')
        )


def test_an_empty_project(client, owner):
    client.force_login(owner)
    assert "This project has no spiders yet." in client.get(URL).content.decode()


def test_the_columns_show_runs_success_sparkline_and_usual_duration(client, owner):
    day = 24 * HOUR
    now = now_ms()
    history("mixed", 1, runs=30, items=500, start=now - 40 * day)  # over 30 days ago
    history("mixed", 1, runs=3, items=1000, start=now - 10 * day, first=31)  # within 30 days
    recent_history("mixed", 1, runs=4, items=1000, first=34)  # within 7 days
    add_jobs(
        job_line(
            spider="mixed",
            number=38,
            close_reason="failed",
            items=0,
            ts=now - HOUR,
            running_time=now - HOUR - MINUTE,
            finished_time=now - HOUR,
        )
    )
    client.force_login(owner)
    html = client.get(URL).content.decode()
    row = html[html.index('data-spider="mixed"') :]
    row = row[: row.index("</tr>")]
    cells = [cell.strip() for cell in row.split("<td")]
    # Last run, runs in 7 days, success over 30 days, sparkline, usual duration.
    assert 'class="state b-failed"' in cells[1]
    assert cells[2] == 'class="num">5</td>'
    # 7 of the 8 runs that finished in 30 days went as planned.
    assert '<span class="bad" title="8 finished runs">88%</span>' in cells[3]
    [points] = re.findall(r'<polyline points="([^"]+)"/>', cells[4])
    assert len(points.split()) == 30  # the last 30 runs of 38
    shown = ", ".join(["500"] * 22 + ["1,000"] * 7 + ["0"])  # runs 9 to 38
    assert f'aria-label="items of the last 30 runs: {shown}"' in cells[4]
    assert cells[4].count('class="dot-failed"') == 1 and 'class="last dot-failed"' in cells[4]
    assert cells[5] == 'class="num">10 min</td>'


def test_a_spider_without_finished_runs_has_empty_columns(client, owner):
    add_jobs(job_line(spider="new", number=1, state="running", running_time=now_ms(), ts=now_ms()))
    client.force_login(owner)
    html = client.get(URL).content.decode()
    row = html[html.index('data-spider="new"') :]
    cells = [cell.strip() for cell in row[: row.index("</tr>")].split("<td")]
    assert '<span class="muted">no finished run yet</span>' in cells[1]
    assert cells[2] == 'class="num">0</td>'
    assert '<span class="muted">–</span>' in cells[3]
    assert "<svg" not in cells[4] and cells[5] == 'class="num"></td>'


@pytest.mark.parametrize("value", [1_700_000_000_000_000, 2**63 - 1, -(2**63)])
def test_a_stored_time_that_is_not_a_date_never_breaks_it(client, owner, value):
    add_jobs(job_line(number=1, close_reason="finished"), job_line(number=2, state="running"))
    # Written straight into the rows, as before the API checked its times.
    store_times("53/1/1", ts=value, finished_time=value, running_time=value)
    store_times("53/1/2", ts=value, running_time=value)
    rebuild(Project.objects.get(pk=53))
    client.force_login(owner)
    response = client.get(URL)
    assert response.status_code == 200


def test_an_unknown_attention_value_is_a_form_error_on_the_page(client, owner):
    client.force_login(owner)
    for value in ("2", "a\x00b", "x" * 300):
        response = client.get(URL, {"attention": value})
        assert response.status_code == 200
        assert "attention: Select a valid choice" in response.content.decode()

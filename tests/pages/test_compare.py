"""Comparing two runs (jobs/views/compare.py)."""

from ..factories import add_jobs, job_line, store_times

URL = "/p/53/compare/"


def test_two_runs_side_by_side(client, owner):
    add_jobs(
        job_line(number=1, items=100, close_reason="finished", scrapystats={"a": 1, "only_a": 5}),
        job_line(number=2, items=150, close_reason="failed", scrapystats={"a": 1, "only_b": "x"}),
    )
    client.force_login(owner)
    html = client.get(f"{URL}?key=53/1/1&key=53/1/2").content.decode()
    assert (
        '<tr class="differs"><th scope="row">items</th><td><code>100</code></td><td><code>150</code></td><td class="num">+50 (+50%)</td></tr>'
        in html
    )
    assert '<tr class="same"><th scope="row">a</th>' in html
    assert '<th scope="row">only_a</th><td><code>5</code></td><td><code></code></td>' in html
    assert 'class="state b-failed">failed</span>' in html


def test_bad_picks_are_form_errors(client, owner, outsider):
    add_jobs(job_line(number=1))
    client.force_login(owner)
    assert client.get(URL).status_code == 200  # the empty form
    one = client.get(f"{URL}?key=53/1/1")
    assert one.status_code == 400 and "Pick exactly two different jobs" in one.content.decode()
    assert "is not a job of project 53" in client.get(f"{URL}?key=53/1/1&key=54/1/1").content.decode()
    assert (
        "not a job key" in client.get(f"{URL}?key=53/1/1&key=zzz").content.decode().lower()
        or client.get(f"{URL}?key=53/1/1&key=zzz").status_code == 400
    )
    missing = client.get(f"{URL}?key=53/1/1&key=53/1/9")
    assert missing.status_code == 404 and "There is no job 53/1/9" in missing.content.decode()
    client.force_login(outsider)
    assert client.get(f"{URL}?key=53/1/1&key=53/1/2").status_code == 404


def test_htmx_asks_are_redirected_to_the_page(client, owner):
    client.force_login(owner)
    response = client.get(f"{URL}?key=53/1/2&key=53/1/1", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/p/53/compare/?key=53%2F1%2F2&key=53%2F1%2F1"


def test_stored_times_that_are_not_dates_never_break_it(client, owner):
    add_jobs(job_line(number=1), job_line(number=2))
    # Written straight into the rows, as before the API checked its times.
    store_times("53/1/1", ts=2**63 - 1, finished_time=1_700_000_000_000_000)
    store_times("53/1/2", ts=-(2**63), finished_time=-(2**63), running_time=2**63 - 1)
    client.force_login(owner)
    response = client.get(f"{URL}?key=53/1/1&key=53/1/2")
    assert response.status_code == 200
    assert "1700000000000000" in response.content.decode()

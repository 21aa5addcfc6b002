"""The job list page, its live partial and its exports (jobs/views/job_list.py, exports.py)."""

import csv
import io
import random
import re

import orjson
import pytest
from django.http import QueryDict
from django.test.utils import override_script_prefix

from jobs import listing
from jobs.filters import FILTER_PARAMS, JobFilter
from jobs.jobmeta import LIST_COLUMNS, list_line, now_ms
from jobs.models import Job, Membership, Spider
from jobs.outcomes import badge_of
from jobs.views import job_list as job_list_views

from ..factories import BASE_TS, add_job, add_jobs, job_line, make_project, make_user, store_times

LIST = "/p/53/"
ALL = "state=pending&state=running&state=finished"


@pytest.fixture
def as_member(client, member):
    client.force_login(member)
    return client


def htmx(client, url, **headers):
    return client.get(url, HTTP_HX_REQUEST="true", **headers)


# --- access ---------------------------------------------------------------------

URLS = [
    LIST,
    "/p/53/live?state=running",
    "/p/53/chart?state=finished",
    "/p/53/tags?has_tag=a",
    "/p/53/export.csv",
    "/p/53/export.jsonl",
]


@pytest.mark.parametrize("url", URLS)
def test_anonymous_goes_to_login(client, project, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("who", ["owner", "member", "superuser"])
def test_owner_member_and_superuser_see_the_project(client, project, url, who, request):
    add_job()
    client.force_login(request.getfixturevalue(who))
    assert client.get(url).status_code == 200
    assert htmx(client, url).status_code == 200


@pytest.mark.parametrize("url", URLS)
def test_staff_outside_the_project_get_404_like_a_missing_project(client, project, staff, url):
    # Staff is the right to use the admin, not to read every project.
    add_job()
    client.force_login(staff)
    assert client.get(url).status_code == 404
    assert htmx(client, url).status_code == 404


def test_the_picker_lists_only_staffs_own_projects(client, project, other_project, staff):
    Membership.objects.create(project=other_project, user=staff)
    client.force_login(staff)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/p/54/")


@pytest.mark.parametrize("url", URLS)
def test_outsider_gets_404_like_a_missing_project(client, project, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert htmx(client, url).status_code == 404
    assert client.get(url.replace("/53/", "/999/")).status_code == 404
    # Their own project is fine.
    assert client.get(url.replace("/53/", "/54/")).status_code == 200


def test_huge_project_id_is_404_not_500(as_member):
    assert as_member.get("/p/99999999999999999999999/").status_code == 404


def test_post_is_refused(as_member):
    assert as_member.post(LIST).status_code == 405


def test_picker_lists_visible_projects_with_explicit_states(client, project, other_project, superuser):
    client.force_login(superuser)
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/p/53/?{ALL}"' in html.replace("&amp;", "&")
    assert f'href="/p/54/?{ALL}"' in html.replace("&amp;", "&")


def test_picker_without_projects_says_so(client, db):
    client.force_login(make_user("nobody"))
    html = client.get("/").content.decode()
    assert "You are not a member of any project yet" in html


def test_picker_shows_only_the_members_projects(client, project, other_project):
    user = make_user("two", project)
    client.force_login(user)
    assert client.get("/")["Location"] == f"/p/53/?{ALL}"  # one project: straight to it
    Membership.objects.create(project=other_project, user=user)
    make_project(55, "third")
    html = client.get("/").content.decode()
    assert "/p/53/" in html and "/p/54/" in html and "/p/55/" not in html


def test_single_project_member_goes_straight_to_all_states(as_member):
    response = as_member.get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/p/53/?{ALL}"


# --- full page and partial ------------------------------------------------------


def test_plain_request_gets_the_full_page(as_member):
    add_job(spider="books")
    response = as_member.get(LIST)
    html = response.content.decode()
    assert html.startswith("<!doctype html>")
    assert 'id="listing"' in html
    assert "53/1/" in html
    assert response["Vary"].count("HX-Request") == 1


def test_htmx_request_gets_the_listing_partial_and_the_url(as_member):
    add_job()
    response = htmx(as_member, LIST + "?state=finished&from=&to=")
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="listing">')
    # from/to are form inputs; the address bar gets the API-valid URL.
    assert response["HX-Push-Url"] == LIST + "?state=finished"


def test_history_restore_gets_the_full_page(as_member):
    response = htmx(as_member, LIST, HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<!doctype html>" in response.content.decode()


def test_default_state_is_finished_like_the_api(as_member):
    add_job(state="finished", number=901)
    add_job(state="running", number=902)
    html = as_member.get(LIST).content.decode()
    assert "53/1/901" in html and "53/1/902" not in html
    assert 'value="finished" checked' in html


def keys_in(response):
    """The job keys of the table's rows, in order."""
    return re.findall(r'<td class="key"><a href="[^"]*"[^>]*>([^<]+)</a>', response.content.decode())


def live_url_in(html):
    return re.search(r'<div id="live" hx-get="([^"]*)"', html).group(1).replace("&amp;", "&")


def test_filters_by_state_spider_and_tags(as_member):
    add_jobs(
        job_line(spider="books", number=1, tags=["a"]),
        job_line(spider="books", number=2, state="running", tags=["b"]),
        job_line(spider="quotes", spider_number=2, number=3, tags=["a", "b"]),
        job_line(spider="authors", spider_number=3, number=4),
    )
    assert keys_in(as_member.get(f"{LIST}?{ALL}")) == ["53/3/4", "53/2/3", "53/1/2", "53/1/1"]
    assert keys_in(as_member.get(f"{LIST}?state=running")) == ["53/1/2"]
    assert keys_in(as_member.get(f"{LIST}?{ALL}&spider=books&spider=quotes")) == [
        "53/2/3",
        "53/1/2",
        "53/1/1",
    ]
    assert keys_in(as_member.get(f"{LIST}?{ALL}&has_tag=a")) == ["53/2/3", "53/1/1"]
    assert keys_in(as_member.get(f"{LIST}?{ALL}&has_tag=a&has_tag=b")) == ["53/2/3", "53/1/2", "53/1/1"]
    assert keys_in(as_member.get(f"{LIST}?{ALL}&lacks_tag=a&lacks_tag=b")) == ["53/3/4"]
    assert keys_in(as_member.get(f"{LIST}?{ALL}&startts={BASE_TS + 2000}&endts={BASE_TS + 4000}")) == [
        "53/2/3",
        "53/1/2",
    ]


def test_selected_filters_show_as_checked_chips(as_member):
    add_job(spider="books", tags=["nightly"])
    html = as_member.get(f"{LIST}?state=running&spider=books&has_tag=nightly&lacks_tag=bad").content.decode()
    assert 'name="spider" value="books" checked' in html
    assert 'name="state" value="running" checked' in html
    assert 'name="state" value="finished" checked' not in html
    assert 'name="has_tag" value="nightly" checked' in html
    assert 'name="lacks_tag" value="bad" checked' in html
    assert '<option value="nightly">' in html  # tag autocomplete from the Tag table
    assert '<option value="books">' in html  # spider autocomplete


def test_row_tags_and_spider_link_to_the_narrower_filter(as_member):
    add_job(spider="books", tags=["nightly", "a&b"])
    html = as_member.get(f"{LIST}?state=finished&has_tag=x").content.decode()
    assert "No jobs match" in html
    html = as_member.get(f"{LIST}?state=finished&lacks_tag=x").content.decode()
    assert (
        '<a class="tag" href="/p/53/?state=finished&amp;has_tag=nightly&amp;lacks_tag=x">nightly</a>' in html
    )
    assert '<a class="tag" href="/p/53/?state=finished&amp;has_tag=a%26b&amp;lacks_tag=x">a&amp;b</a>' in html
    assert (
        'href="/p/53/?spider=books&amp;state=finished&amp;lacks_tag=x" title="Filter by this spider"' in html
    )


def test_row_texts_are_escaped_once(as_member):
    # Rows come escaped from jobs/rows.py, not from the template's autoescape:
    # each text once, never raw and never twice.
    key = add_job(close_reason="""<b>"late"</b> & 'co'""", tags=["<i>"], items=1234567)
    html = as_member.get(LIST).content.decode()
    row = re.search(rf'<tr id="job-\d+".*?{key}.*?</tr>', html, re.S).group(0)
    assert "<td>&lt;b&gt;&quot;late&quot;&lt;/b&gt; &amp; &#x27;co&#x27;</td>" in row
    assert '<a class="tag" href="/p/53/?has_tag=%3Ci%3E">&lt;i&gt;</a>' in row
    assert '<td class="num">1,234,567</td>' in row
    assert "<b>" not in row and "<i>" not in row and "&amp;amp;" not in row and "&amp;lt;" not in row


def test_an_empty_project_says_how_jobs_arrive(as_member):
    html = as_member.get(LIST).content.decode()
    assert "This project has no jobs yet" in html and "http://testserver/" in html
    add_job(state="running")
    html = as_member.get(f"{LIST}?state=finished").content.decode()
    assert "This project has no jobs yet" not in html and "No jobs match these filters" in html


def test_tag_suggestions_follow_what_is_typed(as_member, django_assert_num_queries):
    add_jobs(job_line(number=1, tags=["nightly", "night-shift", "daily"]))
    add_job(project_id=54, spider="x", number=2, tags=["nightcap"])
    # session, user, project, tags
    with django_assert_num_queries(4):
        html = htmx(as_member, "/p/53/tags?has_tag=night").content.decode()
    assert html == '<option value="night-shift"><option value="nightly">'
    assert htmx(as_member, "/p/53/tags?lacks_tag=ail").content.decode() == '<option value="daily">'
    assert htmx(as_member, "/p/53/tags?has_tag=").content.decode().count("<option") == 3


def test_every_control_has_a_label(as_member):
    html = as_member.get(LIST).content.decode()
    form = html.split('<form id="filters"', 1)[1].split("</form>", 1)[0]
    # Every input sits inside a <label> (chips, add fields, time inputs).
    for chunk in form.split("<input")[1:]:
        before = form.split("<input" + chunk, 1)[0]
        assert before.rfind("<label") > before.rfind("</label>"), chunk[:60]


def test_invalid_filter_shows_the_form_error(as_member):
    add_job()
    response = as_member.get(f"{LIST}?startts=yesterday")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="errors"' in html and "startts" in html
    assert "53/1/" not in html
    # The rest of the form is kept as typed.
    html = as_member.get(f"{LIST}?state=running&state=bogus&has_tag=x&spider=books").content.decode()
    assert "state: Select a valid choice" in html
    assert 'name="has_tag" value="x" checked' in html
    assert 'name="spider" value="books" checked' in html
    assert 'value="running" checked' in html


def test_bad_local_time_shows_an_error(as_member):
    response = as_member.get(f"{LIST}?state=finished&from=not-a-date")
    assert response.status_code == 200
    assert "is not a date and time" in response.content.decode()


# --- time inputs and zones -----------------------------------------------------


def test_plain_form_submit_redirects_to_the_canonical_url(as_member):
    response = as_member.get(f"{LIST}?state=finished&spider=&has_tag=&from=2023-11-14T22:00&to=")
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?state=finished&startts=1699999200000"


def test_local_times_use_the_tz_cookie(as_member):
    as_member.cookies["tz"] = "Europe/Berlin"
    response = as_member.get(f"{LIST}?state=finished&from=2023-11-14T23:00")
    # 23:00 in Berlin (UTC+1 in November) is 22:00 UTC.
    assert response["Location"] == f"{LIST}?state=finished&startts=1699999200000"
    add_job(ts=1_700_000_000_000, finished_time=1_700_000_000_000)
    html = as_member.get(f"{LIST}?state=finished").content.decode()
    assert "2023-11-14 23:13:20" in html  # 22:13:20 UTC
    assert "Europe/Berlin" in html
    assert 'value="2023-11-14T23:00:00"' in as_member.get(f"{LIST}?startts=1699999200000").content.decode()


def test_no_template_comment_reaches_the_page(as_member):
    # Django's {# #} comments end at the line's end: one spread over two
    # lines is printed as text, in every row.
    add_jobs(job_line(number=1), job_line(number=2, state="running"))
    for url in (f"{LIST}?{ALL}", f"/p/53/live?{ALL}&since=53/1/1&watch=53/1/2"):
        html = as_member.get(url).content.decode()
        assert "{#" not in html and "#}" not in html, url


def test_time_cells_show_local_times_with_how_long_ago(as_member):
    as_member.cookies["tz"] = "Europe/Berlin"
    hour = 3_600_000
    add_jobs(
        job_line(number=1, ts=BASE_TS, running_time=BASE_TS - hour, finished_time=BASE_TS),
        job_line(number=2, state="running", ts=BASE_TS + 1, running_time=BASE_TS + 1),
        job_line(number=3, state="pending", ts=BASE_TS + 2, pending_time=BASE_TS + 2),
    )
    html = as_member.get(f"{LIST}?{ALL}").content.decode()

    def cells(key):
        row = html[html.index(f'value="{key}"') :]
        return re.findall(r"<td>(.*?)</td>", row[: row.index("</tr>")])[-2:]

    started, finished = cells("53/1/1")
    when = r'title="\d+ days ago"'
    assert re.fullmatch(
        rf'<time datetime="2023-11-14T23:13:20.000\+01:00" {when}>2023-11-14 23:13:20</time>', finished
    )
    assert re.fullmatch(
        rf'<time datetime="2023-11-14T22:13:20.000\+01:00" {when}>2023-11-14 22:13:20</time>', started
    )
    assert cells("53/1/2")[1] == ""  # running: not finished
    started, finished = cells("53/1/3")
    assert (
        re.fullmatch(r'<span class="muted" title="queued \d+ days ago">queued</span>', started)
        and finished == ""
    )


def test_percent_encoded_tz_cookie_is_understood(as_member):
    as_member.cookies["tz"] = "America%2FNew_York"
    assert 'data-tz="America/New_York"' in as_member.get(LIST).content.decode()


def test_unknown_tz_cookie_falls_back_to_utc(as_member):
    as_member.cookies["tz"] = "Mars/Olympus_Mons"
    add_job(ts=1_700_000_000_000, finished_time=1_700_000_000_000)
    html = as_member.get(LIST).content.decode()
    assert "2023-11-14 22:13:20" in html
    assert 'data-tz="UTC"' in html


def test_presets_set_startts_from_now(as_member, monkeypatch):
    monkeypatch.setattr(job_list_views, "now_ms", lambda: 1_800_000_000_000)
    response = as_member.get(f"{LIST}?state=running&range=24h&from=&to=")
    assert response["Location"] == f"{LIST}?state=running&startts={1_800_000_000_000 - 86_400_000}"


# --- pagination ----------------------------------------------------------------


@pytest.fixture
def many_jobs(project, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 3)
    add_jobs(*(job_line(number=n) for n in range(1, 9)))  # 53/1/1 .. 53/1/8, newest last


def test_keyset_pages_older_and_newer(as_member, many_jobs):
    first = as_member.get(LIST)
    assert keys_in(first) == ["53/1/8", "53/1/7", "53/1/6"]
    html = first.content.decode()
    assert 'href="/p/53/?before=53%2F1%2F6"' in html
    second = as_member.get(f"{LIST}?before=53/1/6")
    assert keys_in(second) == ["53/1/5", "53/1/4", "53/1/3"]
    third = as_member.get(f"{LIST}?before=53/1/3")
    assert keys_in(third) == ["53/1/2", "53/1/1"]
    assert 'rel="next"' not in third.content.decode()
    back = as_member.get(f"{LIST}?after=53/1/5")
    assert keys_in(back) == ["53/1/8", "53/1/7", "53/1/6"]  # the top: the first page
    assert 'rel="prev"' not in back.content.decode()
    middle = as_member.get(f"{LIST}?after=53/1/2")
    assert keys_in(middle) == ["53/1/5", "53/1/4", "53/1/3"]


def test_pages_keep_the_filters(as_member, many_jobs):
    html = as_member.get(f"{LIST}?state=finished&has_tag=x&lacks_tag=y").content.decode()
    assert "No jobs match" in html
    html = as_member.get(f"{LIST}?state=finished&lacks_tag=y").content.decode()
    assert 'href="/p/53/?state=finished&amp;lacks_tag=y&amp;before=53%2F1%2F6"' in html


def test_missing_cursor_shows_the_first_page_with_a_note(as_member, many_jobs):
    response = as_member.get(f"{LIST}?before=53/1/999")
    assert keys_in(response) == ["53/1/8", "53/1/7", "53/1/6"]
    assert "no longer exists" in response.content.decode()
    response = as_member.get(f"{LIST}?before=garbage")
    assert "is not a job key" in response.content.decode()


def test_deep_page_costs_the_same_queries_as_the_first(as_member, many_jobs, django_assert_num_queries):
    # session, user, project, spiders, tags, state counters, rows, the rows'
    # usual (health.usual_for_rows: the spiders' kept runs, then one walk for
    # rows with too few kept runs before them), chart, projects (picker)
    with django_assert_num_queries(11):
        first = as_member.get(f"{LIST}?state=finished").content.decode()
    assert '<figure class="chart" id="chart">' in first
    # + the cursor's job, - the spiders (known since the first page:
    # jobs/spidernames.py), - the chart, which a deeper page leaves to its
    # own request: it would read the filter's newest job, then its days.
    with django_assert_num_queries(10):
        deeper = as_member.get(f"{LIST}?state=finished&before=53/1/3").content.decode()
    assert 'id="chart"' in deeper and '<figure class="chart"' not in deeper
    assert 'hx-get="/p/53/chart?state=finished" hx-trigger="load"' in deeper
    with django_assert_num_queries(5):  # session, user, project, newest job, its days
        chart = as_member.get("/p/53/chart?state=finished").content.decode()
    # The same chart as the first page's.
    assert figure_of(chart) == figure_of(first)


def figure_of(html: str) -> str:
    start = html.index('<figure class="chart"')
    return html[start : html.index("</figure>", start)]


def test_partial_query_count(as_member, many_jobs, django_assert_num_queries):
    # session, user, project, spiders, tags, state counters, rows, the rows'
    # usual (kept runs, one walk) (the chart comes in its own request)
    with django_assert_num_queries(9):
        htmx(as_member, f"{LIST}?state=finished")
    # With one tag: the tag counters instead of the state counters; no row
    # matches, so no usual is looked up; the spiders, their ids included, are
    # known already (jobs/spidernames.py).
    with django_assert_num_queries(6):
        htmx(as_member, f"{LIST}?state=finished&has_tag=x&spider=books")
    # With two tags: no counts at all, but the rows (the live refresh counts).
    with django_assert_num_queries(5):
        htmx(as_member, f"{LIST}?state=finished&has_tag=x&has_tag=y&spider=books")


# --- counts ---------------------------------------------------------------------


def test_state_counts_and_match_count_from_counters(as_member):
    add_jobs(
        job_line(number=1),
        job_line(number=2),
        job_line(number=3, state="running"),
        job_line(number=4, state="deleted"),
    )
    html = as_member.get(f"{LIST}?state=finished&state=running").content.decode()
    assert '<span class="count" id="count-finished">2</span>' in html
    assert '<span class="count" id="count-running">1</span>' in html
    assert '<span class="count" id="count-deleted">1</span>' in html
    assert '<strong id="match-count">3</strong> matching jobs' in html


def test_capped_counts_come_with_the_live_refresh_not_with_the_rows(
    as_member, monkeypatch, django_assert_num_queries
):
    """Several tags: no counter answers, and each state's count reads up to
    COUNT_CAP + 1 jobs. The page shows its rows without counting, and asks
    its live refresh at once, which brings the capped counts."""
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    add_jobs(
        *(job_line(number=n, tags=["t"]) for n in range(1, 6)),
        job_line(number=6, state="running", tags=["t"]),
    )
    response = as_member.get(f"{LIST}?state=finished&state=running&has_tag=t&has_tag=u")
    html = response.content.decode()
    assert len(keys_in(response)) == 6
    assert '<strong id="match-count">…</strong> matching jobs' in html
    assert '<span class="count" id="count-finished" aria-busy="true" title="Counting…">…</span>' in html
    assert "or all jobs matching this filter" in html
    assert 'hx-trigger="load, every 5s' in html
    # The live refresh: session, user, project, 4 capped counts, the watched
    # running job, the newest job shown and the count of those newer.
    with django_assert_num_queries(10) as captured:
        live = htmx(as_member, live_url_in(html)).content.decode()
    assert sum("LIMIT 4" in q["sql"] for q in captured.captured_queries) == 4
    assert '<strong id="match-count" hx-swap-oob="true">3+</strong>' in live
    assert '<span class="count" id="count-finished" hx-swap-oob="true">3+</span>' in live
    assert '<span class="count" id="count-running" hx-swap-oob="true">1</span>' in live
    assert 'hx-trigger="every 5s' in live  # counted: no second refresh at once
    running = as_member.get(f"{LIST}?state=running&has_tag=t&has_tag=u").content.decode()
    live = htmx(as_member, live_url_in(running)).content.decode()
    assert '<strong id="match-count" hx-swap-oob="true">1</strong>' in live
    # Counters that answer are still read with the rows.
    one_tag = as_member.get(f"{LIST}?state=finished&has_tag=t").content.decode()
    assert '<span class="count" id="count-finished">5</span>' in one_tag and "load, every" not in one_tag


def test_the_live_refresh_takes_capped_counts_at_most_every_30_seconds(
    as_member, monkeypatch, django_assert_num_queries
):
    add_jobs(*(job_line(number=n, tags=["t"]) for n in range(1, 4)))
    page = as_member.get(f"{LIST}?state=finished&has_tag=t&has_tag=u").content.decode()
    first = htmx(as_member, live_url_in(page)).content.decode()
    assert '<span class="count" id="count-finished" hx-swap-oob="true">3</span>' in first
    counted = int(re.search(r"counted=(\d+)", live_url_in(first)).group(1))
    assert abs(counted - now_ms()) < 60_000
    add_jobs(job_line(number=4, tags=["u"]))
    # Within 30 s: no counts at all (the page keeps its own), the same `counted`.
    with django_assert_num_queries(5):  # session, user, project, the newest job shown, newer ones
        soon = htmx(as_member, live_url_in(first)).content.decode()
    assert 'id="count-finished"' not in soon and 'id="match-count"' not in soon
    assert f"counted={counted}" in live_url_in(soon)
    # 30 s later: counted again, and the new job is in.
    monkeypatch.setattr(job_list_views, "now_ms", lambda: counted + 30_000)
    later = htmx(as_member, live_url_in(soon)).content.decode()
    assert '<span class="count" id="count-finished" hx-swap-oob="true">4</span>' in later
    assert f"counted={counted + 30_000}" in live_url_in(later)
    # A `counted` that is not a time is a bad request, not a skipped count.
    assert htmx(as_member, live_url_in(soon).replace(f"counted={counted}", "counted=soon")).status_code == 400


def test_exact_counts_from_counters_with_one_tag_or_a_window(as_member, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    day = 86_400_000
    midnight = BASE_TS // day * day
    add_jobs(
        *(job_line(number=n, tags=["t"], ts=midnight + n) for n in range(1, 6)),
        job_line(number=6, state="running", tags=["t"], ts=midnight - 1),
        job_line(number=7, ts=midnight + day),
    )
    html = as_member.get(f"{LIST}?state=finished&state=running&has_tag=t").content.decode()
    assert '<strong id="match-count">6</strong>' in html
    assert '<span class="count" id="count-finished">5</span>' in html
    html = as_member.get(f"{LIST}?state=finished&lacks_tag=t").content.decode()
    assert '<strong id="match-count">1</strong>' in html
    assert '<span class="count" id="count-running">0</span>' in html
    # A whole day and a partial one: the daily figures, and the jobs of the partial day.
    html = as_member.get(f"{LIST}?state=finished&state=running&startts={midnight - 1}&endts={midnight + day}")
    assert '<strong id="match-count">6</strong>' in html.content.decode()
    assert '<span class="count" id="count-finished">5</span>' in html.content.decode()


def test_capped_count_queryset_method(project):
    add_jobs(*(job_line(number=n) for n in range(1, 6)))
    jobs = Job.objects.for_project(project)
    assert jobs.capped_count(3) == 4
    assert jobs.capped_count(10) == 5


# --- live refresh ----------------------------------------------------------------


def test_live_refreshes_watched_rows_counts_and_new_jobs(as_member):
    add_jobs(job_line(number=1), job_line(number=2, state="running"))
    url = f"/p/53/live?{ALL}&since=53/1/2&watch=53/1/2"
    html = htmx(as_member, url).content.decode()
    assert 'id="job-' in html and 'hx-swap-oob="true"' in html and "53/1/2" in html
    assert "new job" not in html
    add_jobs(job_line(number=3), job_line(number=4, state="pending"))
    html = htmx(as_member, url).content.decode()
    assert "2 new jobs" in html
    assert '<span class="count" id="count-pending" hx-swap-oob="true">1</span>' in html
    assert '<strong id="match-count" hx-swap-oob="true">4</strong>' in html
    assert "watch=53%2F1%2F2" in live_url_in(html)


def test_a_watched_job_that_finishes_is_refreshed_not_counted_as_new(as_member):
    add_jobs(job_line(number=1), job_line(number=2, state="running"))
    url = f"/p/53/live?{ALL}&since=53/1/2&watch=53/1/2"
    add_jobs(job_line(number=2, state="finished", ts=BASE_TS + 50_000))
    html = htmx(as_member, url).content.decode()
    assert '<span class="state b-finished">finished</span>' in html
    assert "new job" not in html
    assert "watch=53%2F1%2F2" in live_url_in(html)  # still watched: still not new


def test_live_never_shows_other_projects_jobs(as_member, other_project):
    add_job(project_id=54, spider="x", state="running", number=77)
    html = htmx(as_member, f"/p/53/live?{ALL}&watch=54/1/77").content.decode()
    assert "54/1/77" not in html.replace("54%2F1%2F77", "")


def test_live_query_count(as_member, django_assert_num_queries):
    add_jobs(job_line(number=1), job_line(number=2, state="running"))
    # session, user, project, state counters, spiders, watched rows, since job,
    # new count (excluding the watched jobs)
    with django_assert_num_queries(8):
        htmx(as_member, f"/p/53/live?{ALL}&since=53/1/2&watch=53/1/2")


def test_list_page_polls_only_on_the_first_page_for_new_jobs(as_member, many_jobs):
    first = as_member.get(LIST).content.decode()
    assert "since=53%2F1%2F8" in first
    assert 'hx-trigger="every 5s [!document.hidden]' in first
    deeper = as_member.get(f"{LIST}?before=53/1/6").content.decode()
    assert "since=" not in deeper


# --- chart, snippets ------------------------------------------------------------


def test_chart_shows_jobs_per_day_by_state(as_member):
    day = 86_400_000
    add_jobs(
        job_line(number=1, ts=BASE_TS),
        job_line(number=2, ts=BASE_TS + 10),
        job_line(number=3, ts=BASE_TS + day, state="running"),
    )
    html = as_member.get(f"{LIST}?{ALL}").content.decode()
    assert "<svg" in html and 'role="img"' in html
    assert "Tue 2023-11-14: 2 finished" in html
    assert "Wed 2023-11-15: 1 running" in html
    assert html.count('class="bar-finished"') == 1


def test_htmx_swaps_load_the_chart_after_the_rows(as_member, django_assert_num_queries):
    add_jobs(job_line(number=1, ts=BASE_TS, tags=["a"]))
    html = htmx(as_member, f"{LIST}?state=finished&has_tag=a").content.decode()
    assert "<svg" not in html
    assert 'hx-get="/p/53/chart?state=finished&amp;has_tag=a" hx-trigger="load"' in html
    # session, user, project, newest ts, per-day counts
    with django_assert_num_queries(5):
        chart = htmx(as_member, "/p/53/chart?state=finished&has_tag=a").content.decode()
    assert chart.lstrip().startswith('<figure class="chart" id="chart">')
    assert "Tue 2023-11-14: 1 finished" in chart
    assert htmx(as_member, "/p/53/chart?state=finished&has_tag=zzz").content.decode().strip() == ""
    assert htmx(as_member, "/p/53/chart?state=bogus").status_code == 400


def test_a_page_whose_chart_reads_jobs_leaves_it_to_its_own_request(as_member):
    """Several tags: no daily figures answer the chart, which reads every job
    of its 30 days. The page draws its rows without it, whole page or not."""
    add_jobs(job_line(number=1, ts=BASE_TS, tags=["a"]), job_line(number=2, ts=BASE_TS + 10, tags=["b"]))
    one_tag = as_member.get(f"{LIST}?state=finished&has_tag=a").content.decode()
    assert '<figure class="chart" id="chart">' in one_tag  # the tag's daily figures answer it
    response = as_member.get(f"{LIST}?state=finished&has_tag=a&has_tag=b")
    page = response.content.decode()
    assert keys_in(response) == ["53/1/2", "53/1/1"] and '<figure class="chart"' not in page
    assert 'hx-get="/p/53/chart?state=finished&amp;has_tag=a&amp;has_tag=b" hx-trigger="load"' in page
    chart = htmx(as_member, "/p/53/chart?state=finished&has_tag=a&has_tag=b").content.decode()
    assert "Tue 2023-11-14: 2 finished" in chart


def test_chart_reads_the_daily_figures_not_the_jobs(as_member, django_assert_num_queries):
    add_jobs(job_line(number=1, ts=BASE_TS), job_line(number=2, ts=BASE_TS + 86_400_000, state="running"))
    # session, user, project, newest ts, the daily figures
    with django_assert_num_queries(5) as captured:
        chart = htmx(as_member, f"/p/53/chart?{ALL}").content.decode()
    assert "Tue 2023-11-14: 1 finished" in chart and "Wed 2023-11-15: 1 running" in chart
    assert "(UTC days)" in chart
    assert not any("GROUP BY" in q["sql"] and '"jobs_job"' in q["sql"] for q in captured.captured_queries)


def test_the_chart_of_one_tag_reads_the_daily_figures_per_tag(as_member, django_assert_num_queries):
    add_jobs(
        job_line(number=1, ts=BASE_TS, tags=["a"]),
        job_line(number=2, ts=BASE_TS + 86_400_000, state="running", tags=["a", "b"]),
        job_line(number=3, ts=BASE_TS + 86_400_000),
    )
    # session, user, project, newest ts, the tag's daily figures
    with django_assert_num_queries(5) as captured:
        chart = htmx(as_member, f"/p/53/chart?{ALL}&has_tag=a").content.decode()
    assert "Tue 2023-11-14: 1 finished" in chart and "Wed 2023-11-15: 1 running" in chart
    # + every job's daily figures, less the tag's
    with django_assert_num_queries(6) as more:
        chart = htmx(as_member, f"/p/53/chart?{ALL}&lacks_tag=b").content.decode()
    assert "Tue 2023-11-14: 1 finished" in chart and "Wed 2023-11-15: 1 finished" in chart
    assert "running" not in chart.split("</figcaption>")[1].split("<svg")[1]
    for query in [*captured.captured_queries, *more.captured_queries]:
        assert not ("GROUP BY" in query["sql"] and '"jobs_job"' in query["sql"]), query["sql"]


@pytest.mark.parametrize(
    "query",
    [
        ALL,
        "state=finished&spider=s2",
        "state=finished&state=deleted&outcome=failed&outcome=finished",
        f"{ALL}&startts={BASE_TS - 5}&endts={BASE_TS + 3 * 86_400_000 + 7}",
        # inside one day, and across one midnight
        f"{ALL}&startts={BASE_TS // 86_400_000 * 86_400_000 + 1}&endts={BASE_TS // 86_400_000 * 86_400_000 + 86_399_999}",
        f"{ALL}&startts={BASE_TS - 3_600_000}&endts={BASE_TS + 7_200_000}",
        f"{ALL}&endts={BASE_TS // 86_400_000 * 86_400_000 + 2 * 86_400_000}",
        "state=finished&has_tag=a",
        f"state=finished&lacks_tag=a&startts={BASE_TS}",
        # one tag: the daily figures per tag (lacks: every job's minus the tag's)
        f"{ALL}&lacks_tag=b",
        f"{ALL}&has_tag=b&spider=s1&startts={BASE_TS - 3_600_000}&endts={BASE_TS + 2 * 86_400_000 + 7}",
        "state=finished&outcome=failed&has_tag=a",
        # two tags: the jobs
        f"{ALL}&has_tag=a&lacks_tag=b",
    ],
)
def test_chart_figures_equal_the_jobs_of_each_day(project, query):
    rng = random.Random(query)
    day = 86_400_000
    add_jobs(
        *(
            job_line(
                number=n,
                spider=f"s{n % 3}",
                spider_number=n % 3 + 1,
                state=rng.choice(["pending", "running", "finished", "finished", "deleted"]),
                ts=BASE_TS + rng.randrange(-40 * day, 4 * day) // 20 * 20,
                tags=rng.sample(["a", "b"], rng.randrange(0, 3)),
                close_reason=rng.choice([None, "finished", "failed", "banned"]),
            )
            for n in range(1, 200)
        ),
        # Jobs in every window above.
        *(
            job_line(number=n, spider="s2", spider_number=3, ts=BASE_TS + 3_600_000 * (n - 205))
            for n in range(200, 210)
        ),
    )
    jobfilter = JobFilter(QueryDict(query), project=project)
    assert jobfilter.is_valid()
    figures = listing.daily_figures(jobfilter, listing.newest_ts_of(jobfilter.qs))
    assert figures is not None
    expected: dict[int, dict[str, int]] = {}
    span = jobfilter.qs.filter(ts__gte=figures.first_day * day, ts__lt=(figures.last_day + 1) * day)
    for row_day, state, reason, n in span.per_day_by_state_and_reason():
        expected.setdefault(row_day, {})
        expected[row_day][badge_of(state, reason)] = expected[row_day].get(badge_of(state, reason), 0) + n
    assert {d: {b: n for b, n in c.items() if n} for d, c in figures.days.items()} == expected
    assert expected


def test_per_day_by_state(project):
    add_jobs(job_line(number=1, ts=BASE_TS), job_line(number=2, ts=BASE_TS + 1, state="running"))
    rows = Job.objects.for_project(project).per_day_by_state(offset_ms=7_200_000)
    assert sorted(rows) == [(19676, "finished", 1), (19676, "running", 1)]


def test_copy_as_curl_and_python(as_member):
    html = as_member.get(f"{LIST}?state=finished&has_tag=a%20b&startts=5").content.decode()
    assert (
        "curl -u &quot;$SHUB_APIKEY:&quot; &#x27;http://testserver/jobq/53/list?state=finished&amp;startts=5&amp;has_tag=a+b&#x27;"
        in html
    )
    assert "jobs.iter(state=[&#x27;finished&#x27;], startts=5, has_tag=[&#x27;a b&#x27;])" in html


def test_copy_with_several_spiders_gives_one_call_each(as_member):
    html = as_member.get(f"{LIST}?state=finished&spider=a&spider=b").content.decode()
    assert "list?spider=a&amp;state=finished" in html and "list?spider=b&amp;state=finished" in html
    assert "for spider in [&#x27;a&#x27;, &#x27;b&#x27;]:" in html


# --- exports ----------------------------------------------------------------------


def test_jsonl_export_streams_every_match_as_list_lines(as_member, project, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    add_jobs(*(job_line(number=n, tags=["t"] if n % 2 else [], items=n) for n in range(1, 6)))
    response = as_member.get("/p/53/export.jsonl?has_tag=t")
    assert response.streaming
    assert response["Content-Type"] == "application/x-jsonlines; charset=utf-8"
    assert 'attachment; filename="jobq-53-' in response["Content-Disposition"]
    lines = [orjson.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [line["key"] for line in lines] == ["53/1/5", "53/1/3", "53/1/1"]
    names = Spider.objects.names(project)
    expected = [
        list_line(row, names, 0)
        for row in Job.objects.filter(key__in=["53/1/5", "53/1/3", "53/1/1"])
        .newest_first()
        .values(*LIST_COLUMNS)
    ]
    for line, want in zip(lines, expected, strict=True):
        line.pop("elapsed"), want.pop("elapsed")
        assert line == want


def test_csv_export(as_member):
    add_jobs(
        job_line(number=1, tags=["a,b", "c"], items=7, close_reason="finished"),
        job_line(number=2, state="running"),
    )
    response = as_member.get(f"/p/53/export.csv?{ALL}")
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["key"] for row in rows] == ["53/1/2", "53/1/1"]
    assert rows[1]["items"] == "7" and rows[1]["spider"] == "books" and rows[1]["close_reason"] == "finished"
    assert orjson.loads(rows[1]["tags"]) == ["a,b", "c"]
    assert rows[0]["tags"] == ""


def test_csv_cells_never_run_as_spreadsheet_formulas(as_member):
    add_jobs(job_line(number=1, spider='=HYPERLINK("http://x")', spider_number=9, close_reason="@SUM(A1)"))
    response = as_member.get(f"/p/53/export.csv?{ALL}")
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert row["spider"] == '\'=HYPERLINK("http://x")'
    assert row["close_reason"] == "'@SUM(A1)"
    assert row["items"] == "" and row["key"] == "53/9/1"


def test_export_of_an_invalid_filter_is_400(as_member):
    response = as_member.get("/p/53/export.jsonl?state=bogus")
    assert response.status_code == 400
    assert "state" in response.content.decode()


def test_export_links_carry_the_filters(as_member):
    html = as_member.get(f"{LIST}?state=running&has_tag=x").content.decode()
    assert 'href="/p/53/export.csv?state=running&amp;has_tag=x"' in html
    assert 'href="/p/53/export.jsonl?state=running&amp;has_tag=x"' in html


def test_other_projects_are_not_exported(as_member, other_project):
    make_project(54)
    add_job(project_id=54, spider="x", number=5)
    add_job(number=6)
    body = b"".join(as_member.get("/p/53/export.jsonl").streaming_content)
    assert b"53/1/6" in body and b"54/" not in body


def test_chart_stacks_finished_jobs_by_outcome(as_member):
    add_jobs(
        job_line(number=1, ts=BASE_TS, close_reason="finished"),
        job_line(number=2, ts=BASE_TS + 10, close_reason="failed"),
        job_line(number=3, ts=BASE_TS + 20, close_reason="cancelled"),
        job_line(number=4, ts=BASE_TS + 30, close_reason="killed"),  # a failure too
        job_line(number=5, ts=BASE_TS + 40, state="running"),
    )
    html = as_member.get(f"{LIST}?{ALL}").content.decode()
    assert "Tue 2023-11-14: 1 finished, 1 cancelled, 2 failed, 1 running" in html
    for badge in ("finished", "cancelled", "failed", "running"):
        assert html.count(f'class="bar-{badge}"') == 1
    # Stacked from the bottom: the failures sit above the clean finish.
    [finished_y] = re.findall(r'class="bar-finished" x="[\d.]+" y="([\d.]+)"', html)
    [failed_y] = re.findall(r'class="bar-failed" x="[\d.]+" y="([\d.]+)"', html)
    assert float(failed_y) < float(finished_y)
    assert (
        '<span class="key-running">running</span><span class="key-finished">finished</span>'
        '<span class="key-cancelled">cancelled</span><span class="key-failed">failed</span>'
    ) in html


def test_pages_errors_and_duration_far_from_usual_are_hinted(as_member):
    from ..health_factories import MINUTE, history

    history(runs=10, items=1000)  # 2,000 pages, no errors, 10 minutes each
    started = BASE_TS + 20 * 3_600_000
    add_jobs(
        job_line(
            number=50,
            ts=started + 40 * MINUTE,
            running_time=started,
            finished_time=started + 40 * MINUTE,
            close_reason="finished",
            items=1000,
            pages=500,
            errors=30,
        )
    )
    html = as_member.get(f"{LIST}?state=finished").content.decode()
    row = html[html.index('href="/p/53/job/1/50/"') :]
    row = row[: row.index("</tr>")]
    assert (
        '<span class="usual worse" title="pages: 500, usually 2,000 (median of 10 runs)">'
        '<span class="visually-hidden">pages </span>−75%</span>'
    ) in row
    # No errors is the usual: the hint shows the count itself.
    assert (
        '<span class="usual worse" title="errors: 30, usually 0 (median of 10 runs)">'
        '<span class="visually-hidden">errors </span>30</span>'
    ) in row
    # A longer run than usual is worth a look, not marked worse.
    assert (
        '<span class="usual" title="duration: 40 min, usually 10 min (median of 10 runs)">'
        '<span class="visually-hidden">duration </span>+300%</span>'
    ) in row
    # Items as usual: the figure alone (a hint lookup that misses must not
    # fall back to the dict's own `items` method).
    assert '<td class="num">1,000</td>' in row
    assert "dict_items" not in html
    older = html[html.index('href="/p/53/job/1/10/"') :]
    assert 'class="usual' not in older[: older.index("</tr>")]


def test_rows_far_apart_in_their_spiders_runs_get_the_usual_of_their_job_pages(
    as_member, django_assert_num_queries
):
    from ..health_factories import MINUTE, finished_run

    # 200 hourly runs of 1,000 items; a tag on runs 150 and 100 only, and run
    # 100 scraped 300 items. Neither is among the spider's kept runs, and one
    # walk of the spider's runs from run 150 does not reach run 100's.
    lines = []
    for number in range(1, 201):
        started = BASE_TS + number * 3_600_000
        lines.append(
            finished_run(
                number,
                started,
                10 * MINUTE,
                items=300 if number == 100 else 1000,
                pages=2000,
                errors=0,
                tags=["rare"] if number in (100, 150) else [],
            )
        )
    add_jobs(*lines)
    hint = (
        '<span class="usual worse" title="items: 300, usually 1,000 (median of 20 runs)">'
        '<span class="visually-hidden">items </span>−70%</span>'
    )
    html = as_member.get(f"{LIST}?has_tag=rare&state=finished").content.decode()
    row = html[html.index('href="/p/53/job/1/100/"') :]
    assert hint in row[: row.index("</tr>")]
    row = html[html.index('href="/p/53/job/1/150/"') :]
    assert 'class="usual' not in row[: row.index("</tr>")]
    # session, user, project, tag suggestions, counts, rows, kept runs, the
    # walks (runs 100 and 150 fifty numbers apart: one each, in one query),
    # the chart's figures, the project picker
    with django_assert_num_queries(10):
        assert hint in as_member.get(f"{LIST}?has_tag=rare&state=finished").content.decode()
    # The job's page says the same.
    page = as_member.get("/p/53/job/1/100/").content.decode()
    assert "median of the 20 runs before this one (all runs)" in page
    assert '<td class="num">300</td><td class="num">1,000</td><td class="num">−70%' in page


# --- bad input: a form error on the page, a 400 for partials and exports --------

# Each is wrong for at least one parameter: a float, a negative number, 64-bit
# overflow, a year past 9999, a NUL byte, a name longer than the column.
BAD_VALUES = ["1.0", "-5", str(2**63 - 1), str(2**64), "253402300800000", "a\x00b", "x" * 300]
PAGE_PARAMS = [*FILTER_PARAMS, "before", "after", "from", "to", "range", "since", "watch"]


@pytest.mark.parametrize("query", ["startts=1.0", "endts=9223372036854775807", "startts=253402300800000"])
def test_times_a_page_cannot_show_are_a_form_error(as_member, query):
    add_job()
    response = as_member.get(f"{LIST}?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    name = query.split("=")[0]
    assert 'class="errors"' in html and f"{name}: " in html
    assert "53/1/" not in html
    chart = htmx(as_member, f"/p/53/chart?{query}")
    assert chart.status_code == 400 and chart.content.decode().startswith(f"{name}: ")


@pytest.mark.parametrize(
    "url", [LIST, "/p/53/live", "/p/53/chart", "/p/53/tags", "/p/53/export.csv", "/p/53/export.jsonl"]
)
def test_no_parameter_value_fails_the_list_or_its_partials(as_member, url):
    add_jobs(job_line(number=1), job_line(number=2, state="running"))
    failed = []
    for name in PAGE_PARAMS:
        for value in BAD_VALUES:
            for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
                response = as_member.get(url, {name: value}, **headers)
                if response.streaming:
                    b"".join(response.streaming_content)
                if response.status_code >= 500:
                    failed.append((name, value[:20], bool(headers), response.status_code))
    assert failed == []


def test_partials_and_exports_answer_400_naming_the_parameter(as_member):
    add_job(number=1)
    for url in ("/p/53/live?since=a%00b", "/p/53/live?watch=53/1/1&watch=x", "/p/53/chart?endts=1.5"):
        response = htmx(as_member, url)
        assert response.status_code == 400, url
        assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert htmx(as_member, "/p/53/live?since=a%00b").content.decode().startswith("since: ")
    assert htmx(as_member, "/p/53/live?watch=x").content.decode().startswith("watch: ")
    assert as_member.get("/p/53/export.csv?startts=-1").content.decode().startswith("startts: ")
    assert htmx(as_member, f"/p/53/tags?has_tag={'x' * 256}").content.decode().startswith("has_tag: ")
    assert htmx(as_member, "/p/53/tags?has_tag=a%00b").status_code == 400


# --- stored times a page cannot show --------------------------------------------


@pytest.mark.parametrize("field", ["finished_time", "running_time", "pending_time", "ts"])
@pytest.mark.parametrize("value", [1_700_000_000_000_000, 2**63 - 1, -(2**63), -5])
def test_a_stored_time_that_is_not_a_date_never_breaks_the_list(as_member, field, value):
    add_jobs(job_line(number=1), job_line(number=2, state="running"))
    store_times("53/1/1", **{field: value})
    if field != "ts":
        store_times("53/1/2", **{field: value})
    for url in (f"{LIST}?{ALL}", f"/p/53/chart?{ALL}", f"/p/53/live?{ALL}&since=53/1/1&watch=53/1/2"):
        response = as_member.get(url)
        assert response.status_code == 200, url
    for url in ("/p/53/export.csv", "/p/53/export.jsonl"):
        response = as_member.get(f"{url}?{ALL}")
        assert response.status_code == 200
        assert str(value).encode() in b"".join(response.streaming_content)


def test_a_time_stored_in_microseconds_reads_as_an_invalid_time(as_member):
    add_job(number=1)
    store_times("53/1/1", ts=1_700_000_000_000_000, finished_time=1_700_000_000_000_000)
    html = as_member.get(LIST).content.decode()
    assert "invalid time 1700000000000000" in html
    assert "53/1/1" in html


def test_rows_link_to_their_jobs_under_any_script_prefix(as_member, project):
    add_jobs(
        job_line(number=7, ts=BASE_TS + 1000),
        job_line(spider="other", spider_number=12, number=345, ts=BASE_TS + 2000),
    )
    html = as_member.get(f"{LIST}?{ALL}").content.decode()
    assert '<a href="/p/53/job/1/7/" hx-boost="false">53/1/7</a>' in html
    assert '<a href="/p/53/job/12/345/" hx-boost="false">53/12/345</a>' in html
    # Served under a path (a WSGI server's SCRIPT_NAME), every link carries it.
    with override_script_prefix("/jobq/"):
        html = as_member.get(f"{LIST}?{ALL}").content.decode()
    assert '<a href="/jobq/p/53/job/1/7/" hx-boost="false">53/1/7</a>' in html
    assert '<a href="/jobq/p/53/job/12/345/" hx-boost="false">53/12/345</a>' in html

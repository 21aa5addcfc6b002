"""Running a spider from the dashboard: /p/<project>/run/ (jobs/views/runs.py).

Owners, members and staff schedule a run of a known spider; the job is
pushed through the same lifecycle code as the API's push, pending, with
`scheduled_by`, and the run is recorded in the BulkAction log.
"""

import orjson
import pytest
from django.test import Client

from jobs.lifecycle import Change, edit_job, start_next_job
from jobs.models import BulkAction, Job, Spider
from jobs.views.runs import unique_key_of

from ..counting import assert_counts_exact
from ..factories import add_jobs, job_line

URL = "/p/53/run/"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def spiders(project):
    """Spiders 'books' (1) and 'news' (2) with a finished job each; job
    53/1/1 ran with arguments of several JSON types and a tag."""
    add_jobs(
        job_line(
            number=1,
            spider_args={"category": "poetry", "pages": 3, "deep": {"a": [1, "é"]}},
            priority=4,
            tags=["item-drop"],
        ),
        job_line(spider="news", spider_number=2, number=1),
    )


def run(client, **fields):
    """POST the run form: `arguments` as a list of (name, value) rows."""
    data = {"spider": "books", "priority": "2", "once": "1", **fields}
    rows = data.pop("arguments", [])
    data["arguments_name"] = [name for name, _ in rows]
    data["arguments_value"] = [value for _, value in rows]
    return client.post(URL, data)


def newest_job():
    return Job.objects.order_by("-id").select_related("spider").first()


# --- the form -----------------------------------------------------------------


def test_the_form_offers_the_known_spiders(client, member, spiders):
    client.force_login(member)
    html = client.get(URL).content.decode()
    assert "<html" in html and "Run a spider" in html
    assert '<option value="books">books</option>' in html and '<option value="news">news</option>' in html
    assert '<option value="2" selected>2 · normal</option>' in html
    assert 'name="once" aria-describedby="run-once-help" id="id_once" checked' in html
    assert html.count('name="arguments_name"') == 2  # two empty rows
    assert 'name="csrfmiddlewaretoken"' in html
    assert "No spider is known" not in html


def test_a_project_without_spiders_says_how_spiders_become_known(client, member, project):
    client.force_login(member)
    html = client.get(URL).content.decode()
    assert "No spider is known in this project yet" in html and '<form class="run-form"' not in html


def test_a_run_is_a_pending_job_pushed_like_the_api_and_recorded(client, member, spiders):
    client.force_login(member)
    response = run(
        client,
        arguments=[("category", "poetry"), ("", ""), ("max pages", " 3 ")],
        tags="manual, nightly, manual,",
        priority="4",
    )
    job = newest_job()
    assert response.status_code == 302 and response["Location"] == "/p/53/job/1/2/"
    assert (job.key, job.spider.name, job.state) == ("53/1/2", "books", "pending")
    # Values are kept as typed; empty rows are no argument; tags de-duplicated.
    assert job.spider_args == {"category": "poetry", "max pages": " 3 "}
    assert (job.tags, job.priority, job.scheduled_by) == (["manual", "nightly"], 4, "member")
    assert job.pending_time == job.ts and job.running_time is None
    assert job.unique_key == unique_key_of("books", {"category": "poetry", "max pages": " 3 "})
    assert_counts_exact()
    action = BulkAction.objects.get()
    assert (action.project_id, action.user, action.action, action.selection, action.count) == (
        53,
        member,
        "run",
        "key=53%2F1%2F2",
        1,
    )
    page = client.get(response["Location"]).content.decode()
    assert (
        "Scheduled books as job <a href='/p/53/job/1/2/'>53/1/2</a>: pending until a worker starts it."
        in page
    )


def test_the_api_sees_the_run_as_any_pushed_job(client, member, spiders, api):
    client.force_login(member)
    run(client, spider="news", arguments=[("day", "monday")])
    answer = api.get("/jobq/53/list?state=pending&jobmeta=spider_args&jobmeta=scheduled_by")
    (line,) = [orjson.loads(text) for text in answer.content.splitlines()]
    assert line["key"] == "53/2/2"
    assert (line["spider_args"], line["scheduled_by"]) == ({"day": "monday"}, "member")


def test_a_run_without_arguments_or_tags(client, member, spiders):
    client.force_login(member)
    run(client, once="")
    job = newest_job()
    assert (job.spider_args, job.tags, job.priority, job.unique_key) == (None, [], 2, None)


def test_back_returns_to_the_list_it_came_from_when_it_shows_the_new_job(client, member, spiders):
    client.force_login(member)
    # the list's filter, on its first page
    response = run(client, back="spider=books&state=pending&state=running&before=53/1/1")
    assert response["Location"] == "/p/53/?spider=books&state=pending&state=running"
    html = client.get(response["Location"]).content.decode()
    assert "Scheduled books as job" in html and 'href="/p/53/job/1/2/"' in html
    # a list that would hide it (finished jobs only, JobQ's default; another
    # spider; another tag): all jobs but deleted ones instead
    every_live_job = "/p/53/?state=pending&state=running&state=finished"
    for back in ("", "state=finished", "spider=news&state=pending", "has_tag=x&state=pending"):
        assert run(client, back=back, once="")["Location"] == every_live_job
    # what `back` holds is a query re-encoded onto the list, never a URL
    assert run(client, back="//evil.example/", once="")["Location"] == every_live_job
    assert run(client, back="state=pending&startts=junk", once="")["Location"] == every_live_job


# --- prefilled forms -------------------------------------------------------------


def test_run_again_copies_spider_arguments_and_priority(client, member, spiders):
    client.force_login(member)
    html = client.get(f"{URL}?from=53/1/1").content.decode()
    assert '<option value="books" selected>books</option>' in html
    assert 'name="arguments_name" value="category"' in html
    assert 'name="arguments_value" value="poetry"' in html
    # other JSON values as the worker passes them to `scrapy crawl -a`
    assert 'name="arguments_value" value="3"' in html
    assert 'name="arguments_value" value="{&quot;a&quot;: [1, &quot;é&quot;]}"' in html
    assert '<option value="4" selected>4 · highest</option>' in html
    # tags are left out: Spidermon or people may have added them after the run
    assert "item-drop" not in html
    # a job of another project, or no job at all, prefills nothing
    add_jobs(job_line(project_id=54, spider="elsewhere", number=9))
    for key in ("54/1/9", "53/1/999", "junk", "53/1/1%00", "x" * 300):
        html = client.get(f"{URL}?from={key}").content.decode()
        assert " selected>books" not in html and "elsewhere" not in html
    # Not a job key at all: the form is drawn empty, saying why.
    response = client.get(f"{URL}?from=junk")
    assert response.status_code == 400 and "from: " in response.content.decode()
    assert client.get(f"{URL}?spider={'x' * 300}").status_code == 400


def test_spider_prefill(client, member, spiders):
    client.force_login(member)
    html = client.get(f"{URL}?spider=news").content.decode()
    assert '<option value="news" selected>news</option>' in html


def test_the_job_list_and_the_job_page_link_to_the_form(client, member, spiders):
    client.force_login(member)
    html = client.get("/p/53/?state=finished&spider=news").content.decode()
    # the list's canonical query to return to, and the one spider it shows
    assert 'href="/p/53/run/?back=spider%3Dnews%26state%3Dfinished&amp;spider=news"' in html
    html = client.get("/p/53/job/1/1/").content.decode()
    assert 'href="/p/53/run/?from=53/1/1"' in html and "Run again…" in html


def test_run_again_end_to_end(client, member, spiders):
    """The prefilled form, posted as it is, schedules the same run."""
    client.force_login(member)
    client.get(f"{URL}?from=53/1/1")
    run(
        client,
        arguments=[("category", "poetry"), ("pages", "3"), ("deep", '{"a": [1, "é"]}')],
        priority="4",
    )
    assert newest_job().spider_args == {"category": "poetry", "pages": "3", "deep": '{"a": [1, "é"]}'}


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"spider": ""}, "Choose the spider to run."),
        ({"spider": "unknown"}, "“unknown” is not a spider of this project."),
        ({"arguments": [("", "x")]}, "The value “x” has no name"),
        ({"arguments": [("a=b", "x")]}, "a name cannot hold “=”"),
        ({"arguments": [("a", "1"), (" a ", "2")]}, "“a” is given twice."),
        ({"arguments": [("n" * 256, "x")]}, "a name has at most 255 characters"),
        ({"arguments": [("a", "x\x00y")]}, "null characters are not allowed"),
        ({"arguments": [(f"a{n}", "x") for n in range(101)]}, "At most 100 arguments"),
        ({"priority": "7"}, "Select a valid choice. 7 is not one of the available choices."),
        ({"priority": ""}, "This field is required."),
        ({"tags": "ok, " + "t" * 256}, "a tag in tags is longer than 255 characters"),
        ({"tags": "a\x00b"}, "Null characters are not allowed."),
    ],
)
def test_bad_input_says_what_and_schedules_nothing(client, member, spiders, fields, message):
    client.force_login(member)
    response = run(client, **fields)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was scheduled" in html and message in html
    assert Job.objects.count() == 2 and not BulkAction.objects.exists()
    # what was typed stays in the form
    for name, _ in fields.get("arguments", [])[:1]:
        assert f'name="arguments_name" value="{name}"' in html
    # under htmx the same error is redrawn in the dialog (htmx swaps only 2xx)
    response = client.post(URL, {"spider": "books", "priority": "2", **_flat(fields)}, headers=HTMX)
    assert response.status_code == 200 and message in response.content.decode()
    assert "<html" not in response.content.decode()


def _flat(fields):
    data = dict(fields)
    rows = data.pop("arguments", [])
    return {**data, "arguments_name": [n for n, _ in rows], "arguments_value": [v for _, v in rows]}


def test_more_arguments_redraws_the_form_and_schedules_nothing(client, member, spiders):
    client.force_login(member)
    response = run(
        client, arguments=[("category", "poetry"), ("", ""), ("", "no name yet")], tags="a", once="", more="1"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="arguments_name" value="category"' in html
    assert 'name="arguments_value" value="no name yet"' in html
    assert html.count('name="arguments_name"') == 6  # the two typed rows and four empty ones
    assert 'name="tags" value="a"' in html and 'id="id_once" checked' not in html
    # a form still being filled in is not checked yet
    assert "Nothing was scheduled" not in html and "has no name" not in html
    assert Job.objects.count() == 2 and not BulkAction.objects.exists()


# --- not twice at once --------------------------------------------------------------


def test_the_same_run_is_refused_while_it_is_pending_or_running(client, member, project, spiders):
    client.force_login(member)
    arguments = [("category", "poetry"), ("pages", "3")]
    assert run(client, arguments=arguments).status_code == 302
    again = run(client, arguments=list(reversed(arguments)))  # the order does not matter
    assert again.status_code == 409
    assert "books with these arguments is already pending or running (job 53/1/2): nothing was scheduled" in (
        again.content.decode()
    )
    assert Job.objects.count() == 3 and BulkAction.objects.count() == 1
    # other arguments, another spider, or the box unticked: scheduled
    assert run(client, arguments=[("category", "prose")]).status_code == 302
    assert run(client, spider="news", arguments=arguments).status_code == 302
    assert run(client, arguments=arguments, once="").status_code == 302
    # running, and even running with a cancel requested, it is still the same run
    assert start_next_job(project=project)["key"] == "53/1/2"
    assert run(client, arguments=arguments).status_code == 409
    client.post("/p/53/job/1/2/cancel/")
    assert run(client, arguments=arguments).status_code == 409
    # once it has finished, the same run is welcome again
    edit_job(project=project, key="53/1/2", change=Change(state="finished"))
    assert run(client, arguments=arguments).status_code == 302
    assert_counts_exact()


# --- access, CSRF, htmx, queries --------------------------------------------------


def test_access(client, owner, member, outsider, superuser, spiders):
    assert client.get(URL)["Location"].startswith("/login/")
    assert run(client)["Location"].startswith("/login/")
    client.force_login(outsider)
    assert client.get(URL).status_code == 404
    assert run(client).status_code == 404
    assert client.get("/p/999/run/").status_code == 404
    assert Job.objects.count() == 2
    for user in (owner, member, superuser):
        client.force_login(user)
        assert client.get(URL).status_code == 200
        assert run(client, once="").status_code == 302
        assert newest_job().scheduled_by == user.username
    assert list(BulkAction.objects.order_by("id").values_list("user__username", flat=True)) == [
        "owner",
        "member",
        "root",
    ]
    assert client.put(URL).status_code == 405


def test_csrf_is_enforced(member, spiders):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert run(client).status_code == 403
    assert Job.objects.count() == 2


def test_htmx_opens_the_form_in_the_dialog_and_redirects_the_page_after(client, member, spiders):
    client.force_login(member)
    html = client.get(f"{URL}?back=state%3Dpending", headers=HTMX).content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div class="run-box">')
    assert 'hx-post="/p/53/run/" hx-target="#run-dialog-body"' in html
    assert 'hx-disabled-elt="find button.primary, find button[name=more]"' in html
    assert '<input type="hidden" name="back" value="state=pending">' in html
    response = client.post(URL, {"spider": "books", "priority": "2", "back": "state=pending"}, headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == "/p/53/?state=pending"
    assert "Scheduled books as job" in client.get("/p/53/?state=pending").content.decode()
    assert newest_job().state == "pending"
    # without htmx the form posts as a plain form
    assert "hx-post" not in client.get(URL).content.decode()


def test_the_dialog_is_on_the_list_and_the_job_page(client, member, spiders):
    client.force_login(member)
    for url in ("/p/53/", "/p/53/job/1/1/"):
        html = client.get(url).content.decode()
        assert html.count('<dialog id="run-dialog"') == 1 and '<div id="run-dialog-body">' in html


def test_query_counts(client, member, spiders, django_assert_num_queries):
    client.force_login(member)
    # session, user, project access, spider names
    with django_assert_num_queries(4):
        client.get(URL)
    # + the job to copy, with its spider
    with django_assert_num_queries(5):
        client.get(f"{URL}?from=53/1/1")
    # session, user, project, spider names; a savepoint (the test runs in a
    # transaction) around the push and the record: the spider, push_jobs'
    # savepoint, the unique's savepoint, the job number, the insert, release,
    # the counter upserts (per state, tag, day, day and tag), the Tag row,
    # release; the BulkAction row; release. Then the message is saved with the
    # session (savepoint, update, release).
    with django_assert_num_queries(22):
        run(client, tags="x")
    # without a unique (its savepoint and release) and tags (the Tag row and
    # the tag counters), from a list: + the spider ids of the list's filter,
    # + whether it shows the new job, before going back to it
    with django_assert_num_queries(19):
        run(client, once="", back="spider=books&state=pending")


def test_the_record_is_visible_in_the_admin(client, member, admin_client, spiders):
    client.force_login(member)
    run(client)
    html = admin_client.get("/admin/jobs/bulkaction/").content.decode()
    assert "member" in html and "Run" in html and "key=53%2F1%2F2" in html


def test_recording_fails_nothing_is_scheduled(client, member, spiders, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("the audit table is gone")

    monkeypatch.setattr(BulkAction.objects, "create", fail)
    client.force_login(member)
    with pytest.raises(RuntimeError):
        run(client)
    assert Job.objects.count() == 2 and Spider.objects.get(name="books").last_job_number == 1
    assert_counts_exact()

"""Bulk actions from the job list: POST /p/<project>/bulk/.

Members and owners may add/remove tags, delete and restore; outsiders get
404. A first POST answers a confirmation saying how many jobs change; the
POST with confirm=1 does it in one transaction and records a BulkAction.
"""

import pytest
from django.db.models import Count
from django.test import Client

from jobs.models import BulkAction, Job, JobCount, State

from ..factories import BASE_TS, add_jobs, job_line

URL = "/p/53/bulk/"
HTMX = {"HX-Request": "true"}


def assert_counts_exact():
    """The per-(project, spider, state) counters equal count(*)."""
    counters = {(c.project_id, c.spider_id, c.state): c.n for c in JobCount.objects.all() if c.n}
    rows = Job.objects.values("project_id", "spider_id", "state").annotate(n=Count("id"))
    assert counters == {(r["project_id"], r["spider_id"], r["state"]): r["n"] for r in rows}


@pytest.fixture
def jobs(project):
    """60 finished jobs of 'books' (more than a list page shows), 5 of 'news',
    2 running 'books' jobs, one deleted."""
    lines = [
        job_line(number=n, ts=BASE_TS + n * 1000, tags=["even"] if n % 2 == 0 else []) for n in range(1, 61)
    ]
    lines += [job_line(spider="news", spider_number=2, number=n, ts=BASE_TS + n * 1000) for n in range(1, 6)]
    lines += [job_line(number=n, state="running", ts=BASE_TS + n * 1000) for n in (61, 62)]
    lines.append(job_line(number=63, state="deleted", ts=BASE_TS + 63_000))
    add_jobs(*lines)


def tags_of(key):
    return Job.objects.get(key=key).tags


def test_confirmation_says_how_many_and_changes_nothing(client, member, jobs):
    client.force_login(member)
    response = client.post(URL, {"action": "add_tag", "tag": "fresh", "key": ["53/1/1", "53/1/2"]})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "Really add tag “fresh” to 2 jobs?" in html
    assert 'name="confirm" value="1"' in html
    assert tags_of("53/1/1") == [] and not BulkAction.objects.exists()


def test_selected_rows_get_the_tag_and_the_action_is_recorded(client, member, jobs):
    client.force_login(member)
    response = client.post(
        URL,
        {
            "action": "add_tag",
            "tag": "fresh",
            "key": ["53/1/1", "53/1/2"],
            "confirm": "1",
            "back": "state=finished&spider=books",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/p/53/?state=finished&spider=books"
    assert tags_of("53/1/1") == ["fresh"] and tags_of("53/1/2") == ["even", "fresh"]
    assert tags_of("53/1/3") == []
    action = BulkAction.objects.get()
    assert (action.user, action.action, action.tag, action.count, action.project_id) == (
        member,
        "add_tag",
        "fresh",
        2,
        53,
    )
    assert action.selection == "key=53%2F1%2F1&key=53%2F1%2F2"
    assert action.created_at is not None
    page = client.get(response["Location"]).content.decode()
    assert "Done: add tag “fresh” to 2 jobs." in page


def test_all_jobs_matching_the_filter(client, owner, jobs):
    """'All N matching' is JobFilter over the posted filter: 60 finished books
    jobs, more than one page, and none of the running, news or deleted ones."""
    client.force_login(owner)
    data = {"action": "add_tag", "tag": "bulk", "all": "1", "spider": "books", "state": "finished"}
    confirm = client.post(URL, data).content.decode()
    assert "Really add tag “bulk” to 60 jobs?" in confirm
    client.post(URL, {**data, "confirm": "1"})
    assert Job.objects.filter(tags__overlap=["bulk"]).count() == 60
    assert set(Job.objects.filter(tags__overlap=["bulk"]).values_list("state", flat=True)) == {"finished"}
    assert all("bulk" not in tags_of(key) for key in ("53/1/61", "53/2/1", "53/1/63"))
    action = BulkAction.objects.get()
    assert action.count == 60 and action.selection == "spider=books&state=finished"


def test_all_matching_a_tag_filter_removes_the_tag(client, member, jobs):
    client.force_login(member)
    data = {"action": "remove_tag", "tag": "even", "all": "1", "has_tag": "even", "confirm": "1"}
    client.post(URL, data)
    assert not Job.objects.filter(tags__overlap=["even"]).exists()
    assert BulkAction.objects.get().count == 30


def test_only_jobs_that_change_are_counted(client, member, jobs):
    client.force_login(member)
    data = {"action": "add_tag", "tag": "even", "key": ["53/1/1", "53/1/2", "53/1/4"]}
    assert "Really add tag “even” to 1 job?" in client.post(URL, data).content.decode()
    data = {"action": "remove_tag", "tag": "nope", "key": ["53/1/1"]}
    assert "No job would change" in client.post(URL, data).content.decode()


def test_delete_and_restore_keep_counts_exact(client, member, jobs):
    client.force_login(member)
    assert_counts_exact()
    data = {"action": "delete", "all": "1", "spider": "news", "confirm": "1"}
    client.post(URL, data)
    assert set(Job.objects.filter(spider__name="news").values_list("state", flat=True)) == {"deleted"}
    assert JobCount.objects.total(53, ["deleted"]) == 6
    assert_counts_exact()
    deleted = Job.objects.get(key="53/2/3")
    assert deleted.meta.get("deleted_by") == "member"

    data = {"action": "restore", "all": "1", "spider": "news", "state": "deleted", "confirm": "1"}
    client.post(URL, data)
    assert set(Job.objects.filter(spider__name="news").values_list("state", flat=True)) == {"finished"}
    restored = Job.objects.get(key="53/2/3")
    assert restored.finished_time == BASE_TS + 3000  # it keeps the time it really finished
    assert_counts_exact()
    assert [(a.action, a.count) for a in BulkAction.objects.order_by("pk")] == [("delete", 5), ("restore", 5)]


def test_delete_counts_only_jobs_not_yet_deleted(client, member, jobs):
    client.force_login(member)
    data = {"action": "delete", "key": ["53/1/63", "53/1/61"]}
    assert "Really delete 1 job?" in client.post(URL, data).content.decode()
    client.post(URL, {**data, "confirm": "1"})
    assert Job.objects.get(key="53/1/61").state == State.DELETED
    assert BulkAction.objects.get().count == 1
    assert_counts_exact()


def test_one_transaction_nothing_changes_when_recording_fails(client, member, jobs, monkeypatch):
    client.force_login(member)

    def fail(**kwargs):
        raise RuntimeError("the audit table is gone")

    monkeypatch.setattr(BulkAction.objects, "create", fail)
    before = dict(JobCount.objects.values_list("state").annotate(n=Count("id")))
    with pytest.raises(RuntimeError):
        client.post(URL, {"action": "delete", "all": "1", "spider": "books", "confirm": "1"})
    assert not Job.objects.filter(spider__name="books", state="deleted").exclude(key="53/1/63").exists()
    assert dict(JobCount.objects.values_list("state").annotate(n=Count("id"))) == before
    assert_counts_exact()
    with pytest.raises(RuntimeError):
        client.post(URL, {"action": "add_tag", "tag": "t", "all": "1", "confirm": "1"})
    assert not Job.objects.filter(tags__overlap=["t"]).exists()


def test_keys_of_other_projects_are_ignored(client, member, jobs):
    add_jobs(job_line(project_id=54, spider="other", number=1))
    client.force_login(member)
    client.post(URL, {"action": "add_tag", "tag": "x", "key": ["54/1/1", "53/1/1"], "confirm": "1"})
    assert tags_of("54/1/1") == [] and tags_of("53/1/1") == ["x"]
    assert BulkAction.objects.get().count == 1


@pytest.mark.parametrize(
    "data, message",
    [
        ({"action": "add_tag", "key": ["53/1/1"]}, "Name the tag"),
        ({"action": "delete"}, "Select some jobs first"),
        ({"action": "explode", "key": ["53/1/1"]}, "not one of the available choices"),
        # runs and cancels share the log, not the toolbar (views/runs.py does them)
        ({"action": "cancel", "key": ["53/1/61"]}, "not one of the available choices"),
        ({"action": "run", "key": ["53/1/1"]}, "not one of the available choices"),
        ({"action": "delete", "key": ["not-a-key"]}, "is not a job key"),
        ({"action": "delete", "all": "1", "startts": "abc"}, "The filter is not valid"),
        ({"action": "add_tag", "tag": "a\x00b", "key": ["53/1/1"]}, "Null characters"),
    ],
)
def test_bad_requests_change_nothing_and_say_why(client, member, jobs, data, message):
    client.force_login(member)
    response = client.post(URL, {**data, "confirm": "1"})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not BulkAction.objects.exists()
    # under htmx the same error lands in the toolbar (htmx swaps only 2xx)
    response = client.post(URL, {**data, "confirm": "1"}, headers=HTMX)
    assert response.status_code == 200 and message in response.content.decode()


def test_access(client, owner, member, outsider, superuser, jobs):
    data = {"action": "add_tag", "tag": "x", "key": ["53/1/1"]}
    assert client.post(URL, data)["Location"].startswith("/login/")
    client.force_login(outsider)
    assert client.post(URL, {**data, "confirm": "1"}).status_code == 404
    assert tags_of("53/1/1") == []
    for user in (owner, member, superuser):
        client.force_login(user)
        assert client.post(URL, data).status_code == 200
    client.force_login(superuser)
    client.post(URL, {**data, "confirm": "1"})
    assert BulkAction.objects.get().user == superuser
    assert client.get(URL).status_code == 405


def test_htmx_gets_the_confirmation_partial(client, member, jobs):
    client.force_login(member)
    response = client.post(URL, {"action": "delete", "key": ["53/1/1"]}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div class="bulk-confirm"') and "Really delete 1 job?" in html


def test_csrf_is_enforced(member, jobs):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    data = {"action": "delete", "key": ["53/1/1"], "confirm": "1"}
    assert client.post(URL, data).status_code == 403
    assert Job.objects.get(key="53/1/1").state == "finished"


def test_query_counts(client, member, jobs, django_assert_num_queries):
    client.force_login(member)
    data = {"action": "add_tag", "tag": "x", "all": "1", "spider": "books"}
    # session, user, project access, the project's spiders (JobFilter's ids
    # of names, kept for the next request: jobs/spidernames.py), the count
    # (capped at the bulk limit)
    with django_assert_num_queries(5):
        client.post(URL, data, headers=HTMX)
    # the same but the spiders, then one transaction (a savepoint here, as the test runs
    # in a transaction) holding the lifecycle's savepoint: the locked read of
    # the 60 jobs, one UPDATE per distinct new tag list (with and without
    # "even"), the tag counters' upserts (per tag, per day and tag), the Tag
    # upsert, release; the BulkAction row; release. Then the "Done" message is
    # saved with the session (savepoint, update, release).
    with django_assert_num_queries(18):
        client.post(URL, {**data, "confirm": "1"})


def test_the_record_is_visible_in_the_admin(client, member, admin_client, jobs):
    client.force_login(member)
    client.post(URL, {"action": "add_tag", "tag": "audited", "key": ["53/1/1", "53/1/3"], "confirm": "1"})
    html = admin_client.get("/admin/jobs/bulkaction/").content.decode()
    assert "member" in html and "add tag" in html and "audited" in html
    assert '<td class="field-count">2</td>' in html


def test_delete_and_restore_one_job_from_its_page(client, member, jobs):
    client.force_login(member)
    page = client.get("/p/53/job/1/1/").content.decode()
    assert 'name="job_page" value="53/1/1"' in page and "Delete…" in page
    data = {"action": "delete", "key": "53/1/1", "job_page": "53/1/1"}
    confirm = client.post(URL, data).content.decode()
    assert "Really delete 1 job?" in confirm and 'href="/p/53/job/1/1/">Cancel' in confirm
    response = client.post(URL, {**data, "confirm": "1"})
    assert response["Location"] == "/p/53/job/1/1/"
    page = client.get(response["Location"]).content.decode()
    assert "Done: delete 1 job." in page and "Restore…" in page
    response = client.post(URL, {**data, "action": "restore", "confirm": "1"})
    assert response["Location"] == "/p/53/job/1/1/"
    assert Job.objects.get(key="53/1/1").state == "finished"
    assert_counts_exact()
    # a job page elsewhere is no place to go back to: the list instead
    response = client.post(URL, {**data, "job_page": "54/1/1", "confirm": "1"})
    assert response["Location"] == "/p/53/"


def test_more_jobs_than_the_limit_are_refused(client, member, jobs, settings):
    settings.JOBQ_BULK_MAX = 10
    client.force_login(member)
    data = {"action": "add_tag", "tag": "x", "all": "1", "spider": "books"}
    for confirm in ("", "1"):
        response = client.post(URL, {**data, "confirm": confirm})
        assert response.status_code == 400
        assert "more than 10 jobs" in response.content.decode()
    assert not Job.objects.filter(tags__overlap=["x"]).exists() and not BulkAction.objects.exists()
    # ten or fewer is fine
    client.post(URL, {**data, "spider": "news", "confirm": "1"})
    assert BulkAction.objects.get().count == 5


def test_bulk_tags_with_spaces(client, member, project):
    add_jobs(job_line(number=1, tags=[" padded "]))
    client.force_login(member)
    client.post(URL, {"action": "add_tag", "tag": "  new ", "key": "53/1/1", "confirm": "1"})
    client.post(URL, {"action": "remove_tag", "tag": " padded ", "key": "53/1/1", "confirm": "1"})
    assert tags_of("53/1/1") == ["new"]
    response = client.post(URL, {"action": "add_tag", "tag": "   ", "key": "53/1/1", "confirm": "1"})
    assert response.status_code == 400 and "Name the tag" in response.content.decode()

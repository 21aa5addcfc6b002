"""The Django admin: every changelist loads with its filters, the job list
never counts the whole table, keys are shown once, counters stay exact."""

import base64
import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

import jobs.admin.counting
from jobs import lifecycle
from jobs.models import ApiKey, BulkAction, Job, JobCount, Membership, Project, Spider, SyncCursor, Tag

from ..factories import add_jobs, job_line, make_key, make_project, store_times

DAY = 24 * 3600 * 1000


def ms(*args):
    return int(datetime.datetime(*args, tzinfo=datetime.UTC).timestamp() * 1000)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """admin_client's superuser is created with a password: hash it cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def jobs_data(db):
    """Project 53 with two spiders and jobs over two months; project 54 with one spider."""
    make_project(53, "books")
    make_project(54, "other")
    lines = []
    for n in range(1, 31):
        lines.append(
            job_line(53, "books", 1, n, ts=ms(2026, 10, 1) + n * DAY, close_reason="finished", tags=["prod"])
        )
    lines.append(
        job_line(53, "books", 1, 31, ts=ms(2026, 11, 3, 12), close_reason="failed", tags=["production"])
    )
    lines.append(job_line(53, "quotes", 2, 1, state="running", ts=ms(2026, 11, 3, 13), tags=["rare"]))
    lines.append(job_line(53, "quotes", 2, 2, state="pending", ts=ms(2026, 11, 4)))
    lines.append(job_line(54, "elsewhere", 1, 1, ts=ms(2026, 11, 5)))
    add_jobs(*lines)
    return lines


def basic(raw):
    return "Basic " + base64.b64encode(f"{raw}:".encode()).decode()


def page_keys(response):
    """The job keys listed on a job changelist page, in order."""
    return re.findall(r'class="field-key"><a href="[^"]+">([0-9/]+)</a>', response.content.decode())


def job_count_queries(queries):
    return [q["sql"] for q in queries if "jobs_job" in q["sql"] and "COUNT(" in q["sql"].upper()]


# --- the job changelist ----------------------------------------------------------


def test_job_changelist_shows_the_first_project_newest_first(admin_client, jobs_data):
    response = admin_client.get("/admin/jobs/job/")
    assert response.status_code == 200
    keys = page_keys(response)
    assert keys[:5] == ["53/2/2", "53/2/1", "53/1/31", "53/1/30", "53/1/29"]
    assert "54/1/1" not in keys
    assert len(keys) == 33
    # Exact, from the counters.
    assert "33 jobs" in response.content.decode()


def test_job_changelist_reads_readable_times(admin_client, jobs_data):
    response = admin_client.get(f"/admin/jobs/job/?project=53&spider={Spider.objects.get(name='quotes').pk}")
    assert page_keys(response) == ["53/2/2", "53/2/1"]
    assert "2026-11-04 00:00:00" in response.content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [
        ("project=54", ["54/1/1"]),
        ("state=running", ["53/2/1"]),
        ("state=pending", ["53/2/2"]),
        ("close_reason=failed", ["53/1/31"]),
        ("q=53/1/31", ["53/1/31"]),
        ("q=54/1/1", ["54/1/1"]),  # a key finds its project's job
        ("q=production", ["53/1/31"]),  # exact tag: not "prod"
        ("q=rare", ["53/2/1"]),
        ("q=nosuchtag", []),
        ("period=2026-11-03", ["53/2/1", "53/1/31"]),
        ("period=2026-11&state=pending", ["53/2/2"]),
        ("period=2025", []),
    ],
)
def test_job_changelist_filters_and_search(admin_client, jobs_data, query, expected):
    response = admin_client.get(f"/admin/jobs/job/?{query}")
    assert response.status_code == 200
    assert page_keys(response) == expected


def test_spider_filter_lists_the_selected_projects_spiders_only(admin_client, jobs_data):
    page = admin_client.get("/admin/jobs/job/?project=53").content.decode()
    assert "?project=53&amp;spider=" in page and ">quotes<" in page and ">elsewhere<" not in page
    page = admin_client.get("/admin/jobs/job/?project=54").content.decode()
    assert ">elsewhere<" in page and ">quotes<" not in page


def test_date_drill_down_links_come_from_the_selected_period(admin_client, jobs_data):
    page = admin_client.get("/admin/jobs/job/?project=53").content.decode()
    this_year = datetime.date.today().year
    assert f"period={this_year}" in page
    page = admin_client.get("/admin/jobs/job/?project=53&period=2026").content.decode()
    assert "period=2026-11" in page and "period=2026-01" in page and ">November<" in page
    page = admin_client.get("/admin/jobs/job/?project=53&period=2026-11").content.decode()
    assert "period=2026-11-01" in page and "‹ 2026" in page
    page = admin_client.get("/admin/jobs/job/?project=53&period=2026-10").content.decode()
    assert "period=2026-10-31" in page and ">Sat 31<" in page
    page = admin_client.get("/admin/jobs/job/?project=53&period=2026-11-03").content.decode()
    assert "‹ November 2026" in page


@pytest.mark.parametrize(
    "query",
    [
        "period=bogus",
        "period=2026-13",
        "period=99999",
        "project=abc",
        "spider=x",
        "spider=99999999999999999999999",
    ],
)
def test_bad_filter_values_redirect_with_the_admin_error_flag(admin_client, jobs_data, query):
    response = admin_client.get(f"/admin/jobs/job/?{query}")
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize(
    "query",
    ["", "project=53&state=finished", "q=prod", "q=53/1/3", "period=2026-11&close_reason=failed", "p=2"],
)
def test_job_changelist_queries_are_bounded_and_never_count_the_table(
    admin_client, jobs_data, query, django_assert_max_num_queries
):
    # session, user, projects (filter), default project, spiders (filter),
    # oldest ts (years), the count (counters or capped), the page.
    with django_assert_max_num_queries(9), CaptureQueriesContext(connection) as captured:
        response = admin_client.get(f"/admin/jobs/job/?{query}")
    assert response.status_code == 200
    for sql in job_count_queries(captured.captured_queries):
        assert "LIMIT" in sql.upper(), f"an uncapped count of jobs: {sql}"


def test_count_from_the_counters_when_only_project_spider_state(admin_client, jobs_data):
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get("/admin/jobs/job/?project=53&state=finished")
    assert "31 jobs" in response.content.decode()
    assert not job_count_queries(captured.captured_queries)
    assert any("jobs_jobcount" in q["sql"] for q in captured.captured_queries)


def test_other_filters_count_with_a_cap(admin_client, jobs_data, monkeypatch):
    monkeypatch.setattr(jobs.admin.counting, "COUNT_CAP", 5)
    response = admin_client.get("/admin/jobs/job/?q=prod")
    page = response.content.decode()
    assert "5+ jobs" in page and "5+ results" in page
    assert len(page_keys(response)) == 30  # one page of 100 still shows them all
    response = admin_client.get("/admin/jobs/job/?q=production")
    assert "1 job" in response.content.decode()


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="reltuples is PostgreSQL's")
def test_unfiltered_large_table_shows_the_planner_estimate(admin_client, jobs_data, monkeypatch):
    monkeypatch.setattr(jobs.admin.counting, "COUNT_CAP", 2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_tag")
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get("/admin/jobs/tag/").content.decode()
    assert re.search(r"about \d+ tags", page)
    assert not any("COUNT(" in q["sql"].upper() and "jobs_tag" in q["sql"] for q in captured.captured_queries)


def test_job_can_be_viewed_and_its_metadata_edited_without_touching_state_or_counters(
    admin_client, jobs_data
):
    job = Job.objects.get(key="53/2/1")
    counters = list(JobCount.objects.order_by("pk").values_list("pk", "n"))
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert page.status_code == 200
    assert "2026-11-03 13:00:00" in page.content.decode()
    response = admin_client.post(
        f"/admin/jobs/job/{job.pk}/change/",
        {
            "tags": "rare\r\nhand-tagged",
            "close_reason": "",
            "priority": "3",
            "units": "1",
            "spider_args": "null",
            "version": "v2",
            "scheduled_by": "",
            "started_by": "",
            "completed_by": "",
            "meta": "{}",
            # Read-only fields are ignored even when posted.
            "state": "finished",
            "ts": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job.refresh_from_db()
    assert (job.tags, job.priority, job.version, job.state, job.ts) == (
        ["rare", "hand-tagged"],
        3,
        "v2",
        "running",
        ms(2026, 11, 3, 13),
    )
    assert Tag.objects.filter(project_id=53, name="hand-tagged").exists()
    assert list(JobCount.objects.order_by("pk").values_list("pk", "n")) == counters


def test_a_save_writes_only_the_changed_fields(admin_client, jobs_data):
    """A state change made by the API while the form was open survives the save."""
    job = Job.objects.get(key="53/2/2")
    form = {
        "tags": "", "close_reason": "", "priority": "2", "units": "1", "spider_args": "null",
        "version": "", "scheduled_by": "", "started_by": "", "completed_by": "", "meta": "{}",
    }  # fmt: skip
    # The API's change, through the same code path as the API (counters kept).
    lifecycle.edit_job(
        project=job.project,
        key=job.key,
        change=lifecycle.Change(state="running", columns={"running_time": 5}),
    )
    admin_client.post(f"/admin/jobs/job/{job.pk}/change/", {**form, "version": "v3"})
    job.refresh_from_db()
    assert (job.state, job.ts, job.version) == ("running", 5, "v3")


def test_jobs_cannot_be_added_or_deleted_in_the_admin(admin_client, jobs_data):
    job = Job.objects.get(key="53/1/1")
    assert admin_client.get("/admin/jobs/job/add/").status_code == 403
    assert admin_client.get(f"/admin/jobs/job/{job.pk}/delete/").status_code == 403


# --- other models ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/jobs/project/", "/admin/jobs/spider/", "/admin/jobs/spider/?project__id__exact=53",
            "/admin/jobs/apikey/", "/admin/jobs/bulkaction/", "/admin/jobs/tag/", "/admin/jobs/tag/?q=prod",
            "/admin/jobs/apikey/add/", "/admin/jobs/project/add/", "/admin/jobs/synccursor/"],
)  # fmt: skip
def test_changelists_load(admin_client, jobs_data, url, django_assert_max_num_queries):
    BulkAction.objects.create(project_id=53, action="add_tag", tag="x", count=3)
    make_key(Project.objects.get(pk=53))
    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    assert response.status_code == 200


def test_project_page_lists_memberships_and_counts_jobs_from_counters(admin_client, jobs_data):
    user = get_user_model().objects.create_user("alice")
    Membership.objects.create(project_id=53, user=user, role="owner")
    page = admin_client.get("/admin/jobs/project/").content.decode()
    assert ">33<" in page  # jobs of project 53
    page = admin_client.get("/admin/jobs/project/53/change/").content.decode()
    assert "alice" in page and "membership_set-0-role" in page


def test_deleting_a_project_is_summarised_and_keeps_counters_exact(admin_client, jobs_data):
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get("/admin/jobs/project/53/delete/")
    assert page.status_code == 200
    assert "its 33 jobs" in page.content.decode()
    assert not any(
        q["sql"].lstrip().upper().startswith("SELECT") and 'FROM "jobs_job"' in q["sql"]
        for q in captured.captured_queries
    )
    assert admin_client.post("/admin/jobs/project/53/delete/", {"post": "yes"}).status_code == 302
    assert not Job.objects.filter(project_id=53).exists()
    assert not JobCount.objects.filter(project_id=53).exists()
    assert Job.objects.filter(project_id=54).count() == 1


def test_deleting_a_spider_removes_its_jobs_and_counters(admin_client, jobs_data):
    spider = Spider.objects.get(name="quotes")
    page = admin_client.get(f"/admin/jobs/spider/{spider.pk}/delete/")
    assert "its 2 jobs" in page.content.decode()
    admin_client.post(f"/admin/jobs/spider/{spider.pk}/delete/", {"post": "yes"})
    assert not Job.objects.filter(spider=spider.pk).exists()
    assert JobCount.objects.filter(project_id=53).values_list("n", flat=True).get() == 31


def test_new_api_key_is_shown_once_and_stored_as_a_digest(admin_client, jobs_data):
    response = admin_client.post(
        "/admin/jobs/apikey/add/", {"name": "ci", "projects": ["53"], "read_only": ""}, follow=True
    )
    assert response.status_code == 200
    raw = re.search(r"The new API key is <code>([0-9a-f]{32})</code>", response.content.decode()).group(1)
    key = ApiKey.objects.get(name="ci")
    assert ApiKey.objects.find(raw) == key
    assert key.prefix == raw[:8] and raw not in key.digest
    assert list(key.projects.values_list("pk", flat=True)) == [53]
    # Never again, and the digest never.
    for url in ("/admin/jobs/apikey/", f"/admin/jobs/apikey/{key.pk}/change/"):
        page = admin_client.get(url).content.decode()
        assert raw not in page and key.digest not in page
    # The key works on the API.
    assert admin_client.get("/jobq/53/count", HTTP_AUTHORIZATION=basic(raw)).json() == 31


def test_revoke_action(admin_client, jobs_data):
    raw = make_key(Project.objects.get(pk=53))
    key = ApiKey.objects.find(raw)
    response = admin_client.post(
        "/admin/jobs/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    assert "1 key(s) revoked." in response.content.decode()
    assert ApiKey.objects.find(raw) is None
    assert admin_client.get("/jobq/53/count", HTTP_AUTHORIZATION=basic(raw)).status_code == 401


def test_audit_log_and_tags_are_read_only(admin_client, jobs_data):
    action = BulkAction.objects.create(project_id=53, action="delete", count=2, selection="state=finished")
    tag = Tag.objects.get(project_id=53, name="prod")
    assert admin_client.get("/admin/jobs/bulkaction/add/").status_code == 403
    assert admin_client.get(f"/admin/jobs/bulkaction/{action.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/jobs/bulkaction/{action.pk}/change/", {"count": 9}).status_code == 403
    assert admin_client.get(f"/admin/jobs/tag/{tag.pk}/delete/").status_code == 403


def test_sync_cursors_are_read_only(admin_client, jobs_data):
    cursor = SyncCursor.objects.create(
        source_url="https://storage.example/", source_project=53, into_project=53, state="finished",
        newest_key="53/1/31", newest_ts=ms(2026, 11, 3, 12),
    )  # fmt: skip
    page = admin_client.get("/admin/jobs/synccursor/").content.decode()
    assert "53/1/31" in page and "2026-11-03 12:00:00" in page
    assert admin_client.get("/admin/jobs/synccursor/add/").status_code == 403
    admin_client.post(f"/admin/jobs/synccursor/{cursor.pk}/change/", {"newest_key": "53/1/1"})
    cursor.refresh_from_db()
    assert cursor.newest_key == "53/1/31"


def test_admin_is_for_staff_only(client, jobs_data):
    user = get_user_model().objects.create_user("member", password="pw-for-test-1")
    Membership.objects.create(project_id=53, user=user)
    client.force_login(user)
    response = client.get("/admin/jobs/job/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_project_pages_show_and_edit_the_retention_policy(admin_client, jobs_data):
    project = Project.objects.get(pk=53)
    project.purge_finished_after_days = 90
    project.save()

    listing = admin_client.get("/admin/jobs/project/").content.decode()
    assert "finished after 90 d" in listing
    assert "keep all" in listing  # project 54

    page = admin_client.get("/admin/jobs/project/53/change/").content.decode()
    assert "Retention" in page and "manage.py purge_jobs" in page
    assert 'name="purge_finished_after_days" value="90"' in page

    form = {
        "name": "books",
        "purge_deleted_after_days": "0",
        "purge_finished_after_days": "30",
        "membership_set-TOTAL_FORMS": "0",
        "membership_set-INITIAL_FORMS": "0",
    }
    refused = admin_client.post("/admin/jobs/project/53/change/", form)
    assert refused.status_code == 200
    assert "Ensure this value is greater than or equal to 1." in refused.content.decode()
    form["purge_deleted_after_days"] = "14"
    assert admin_client.post("/admin/jobs/project/53/change/", form).status_code == 302
    project.refresh_from_db()
    assert project.retention() == {"deleted": 14, "finished": 30}


@pytest.mark.parametrize("value", [1_700_000_000_000_000, 2**63 - 1, -(2**63)])
def test_a_stored_time_that_is_not_a_date_reads_as_invalid(admin_client, jobs_data, value):
    job = Job.objects.get(key="53/1/31")
    # Written straight into the row, as before the API checked its times.
    store_times(job.key, ts=value, finished_time=value, pending_time=value)
    for url in ("/admin/jobs/job/?project=53", f"/admin/jobs/job/{job.pk}/change/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert f"invalid time {value}" in response.content.decode()


# --- staff see their projects, superusers every project ------------------------------


@pytest.fixture
def staff_of_53(client, jobs_data):
    """Staff with every permission on jobq's models, member of project 53 only."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("helper", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs"))
    Membership.objects.create(project_id=53, user=user)
    client.force_login(user)
    return client


def test_staff_see_only_their_projects_in_the_admin(staff_of_53):
    client = staff_of_53
    BulkAction.objects.create(project_id=54, action="add_tag", tag="secret-tag", count=1)
    Tag.objects.create(project_id=54, name="only-in-54")
    other_job = Job.objects.get(key="54/1/1")
    projects = client.get("/admin/jobs/project/").content.decode()
    assert "books" in projects and "other" not in projects
    assert client.get("/admin/jobs/project/54/change/").status_code == 302  # "does not exist"
    spiders = client.get("/admin/jobs/spider/").content.decode()
    assert "quotes" in spiders and "elsewhere" not in spiders
    jobs = client.get("/admin/jobs/job/")
    assert "53/2/2" in page_keys(jobs) and "other" not in jobs.content.decode()
    assert page_keys(client.get("/admin/jobs/job/?project=54")) == []
    assert client.get(f"/admin/jobs/job/{other_job.pk}/change/").status_code == 302
    assert "secret-tag" not in client.get("/admin/jobs/bulkaction/").content.decode()
    assert "only-in-54" not in client.get("/admin/jobs/tag/").content.decode()
    # A key for a project of theirs, not one for another project.
    refused = client.post("/admin/jobs/apikey/add/", {"name": "ci", "projects": ["54"]})
    assert refused.status_code == 200 and not ApiKey.objects.filter(name="ci").exists()
    hidden = make_key(Project.objects.get(pk=54), name="hidden-key")
    both = make_key(Project.objects.get(pk=53), Project.objects.get(pk=54), name="both-key")
    keys = client.get("/admin/jobs/apikey/").content.decode()
    assert "hidden-key" not in keys and "both-key" not in keys
    assert hidden and both


def test_superusers_see_every_project_in_the_admin(admin_client, jobs_data):
    projects = admin_client.get("/admin/jobs/project/").content.decode()
    assert "books" in projects and "other" in projects
    assert page_keys(admin_client.get("/admin/jobs/job/?project=54")) == ["54/1/1"]


# --- a new key is never stored raw -------------------------------------------------------


def test_a_new_key_is_shown_in_the_answer_and_kept_nowhere(admin_client, jobs_data):
    from django.contrib.sessions.models import Session

    response = admin_client.post("/admin/jobs/apikey/add/", {"name": "ci", "projects": ["53"]})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r"The new API key is <code>([0-9a-f]{32})</code>", response.content.decode()).group(1)
    assert ApiKey.objects.find(raw) == ApiKey.objects.get(name="ci")
    # Not in a message waiting in the session or a cookie, not in the session at all.
    assert all(raw not in morsel.value for morsel in response.cookies.values())
    assert all(raw not in morsel.value for morsel in admin_client.cookies.values())
    for session in Session.objects.all():
        assert raw not in str(session.get_decoded()) and raw not in session.session_data
    assert raw not in admin_client.get("/admin/jobs/apikey/").content.decode()


# --- tags are edited whole --------------------------------------------------------------


JOB_FORM = {
    "close_reason": "", "priority": "2", "units": "1", "spider_args": "null",
    "version": "", "scheduled_by": "", "started_by": "", "completed_by": "", "meta": "{}",
}  # fmt: skip


def test_a_save_keeps_a_tag_with_a_comma_whole(admin_client, jobs_data):
    add_jobs(job_line(53, "books", 1, 40, tags=["a,b", " spaced ", "c"]))
    job = Job.objects.get(key="53/1/40")
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    shown = re.search(r'<textarea name="tags"[^>]*>\n?(.*?)</textarea>', page, re.S).group(1)
    assert shown == "a,b\n spaced \nc"
    # The form posted back as the browser sends it, only the version changed.
    response = admin_client.post(
        f"/admin/jobs/job/{job.pk}/change/",
        {**JOB_FORM, "tags": shown.replace("\n", "\r\n"), "version": "v9"},
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.tags, job.version) == (["a,b", " spaced ", "c"], "v9")
    admin_client.post(f"/admin/jobs/job/{job.pk}/change/", {**JOB_FORM, "tags": "a,b\r\nd", "version": "v9"})
    job.refresh_from_db()
    assert job.tags == ["a,b", "d"]
    refused = admin_client.post(f"/admin/jobs/job/{job.pk}/change/", {**JOB_FORM, "tags": "x\x00y"})
    assert refused.status_code == 200 and "Null characters" in refused.content.decode()


def test_a_project_id_past_64_bits_is_a_form_error_on_a_new_key(admin_client, jobs_data):
    response = admin_client.post("/admin/jobs/apikey/add/", {"name": "ci", "projects": [str(2**64)]})
    assert response.status_code == 200 and "is not a valid value" in response.content.decode()
    assert not ApiKey.objects.filter(name="ci").exists()


@pytest.mark.parametrize(
    "url",
    ["/admin/jobs/job/?state=a%00b", "/admin/jobs/job/?close_reason=a%00b", "/admin/jobs/synccursor/?state=a%00b",
     "/admin/jobs/bulkaction/?action=a%00b", "/admin/jobs/bulkaction/?created_at__year=9223372036854775807",
     "/admin/jobs/apikey/?created_at__year=0", "/admin/jobs/apikey/?created_at__year=18446744073709551616"],
)  # fmt: skip
def test_lookups_the_database_cannot_take_are_refused(admin_client, jobs_data, url):
    response = admin_client.get(url)
    assert response.status_code == 302 and response["Location"].endswith("?e=1")

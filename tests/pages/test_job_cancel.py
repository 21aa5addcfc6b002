"""Cancelling a job from the dashboard: /p/<project>/job/<spider>/<job>/cancel/
(jobs/views/runs.py), and how the list and the job page show it.

GET asks for confirmation; POST cancels through `lifecycle.cancel_jobs`, as
the API does: a pending job is finished at once (close reason `cancelled`),
a running one stays running, "cancel requested", until its runner stops it.
Owners, members and staff may; the cancel is recorded in the BulkAction log.
"""

import re

import pytest
from django.test import Client

from jobs.models import BulkAction, Job

from ..counting import assert_counts_exact
from ..factories import add_jobs, job_line

HTMX = {"HX-Request": "true"}
PENDING, RUNNING, WORKED, FINISHED = "53/1/1", "53/1/2", "53/1/3", "53/1/4"


def cancel_url(key):
    _, spider, number = key.split("/")
    return f"/p/53/job/{spider}/{number}/cancel/"


@pytest.fixture
def jobs(project):
    """A pending job, a running one started by a cron crawl, a running one
    that jobq-worker took, and a finished one."""
    add_jobs(
        job_line(number=1, state="pending"),
        job_line(number=2, state="running", started_by="cron-host"),
        job_line(number=3, state="running", started_by="box", worker="box:4242"),
        job_line(number=4, state="finished", close_reason="finished"),
    )


def job(key):
    return Job.objects.get(key=key)


# --- the confirmation ---------------------------------------------------------------


def test_the_confirmation_says_what_happens_and_changes_nothing(client, member, jobs):
    client.force_login(member)
    html = client.get(cancel_url(PENDING)).content.decode()
    assert "<html" in html and "Cancel books" in html and "it has not started" in html
    assert f'<form method="post" action="{cancel_url(PENDING)}">' in html
    assert f"Yes, cancel {PENDING}" in html and 'href="/p/53/job/1/1/">Keep it' in html
    html = client.get(cancel_url(WORKED)).content.decode()
    assert "running</span> on jobq-worker <code>box:4242</code>, which stops the crawl" in html
    html = client.get(cancel_url(RUNNING)).content.decode()
    assert "started by <code>cron-host</code>" in html
    assert "a crawl started another way (cron, Scrapyd) runs on until it ends by itself" in html
    assert job(PENDING).state == "pending" and "cancelled_by" not in job(RUNNING).meta
    assert not BulkAction.objects.exists()


def test_nothing_to_cancel_is_said_plainly(client, member, jobs):
    client.force_login(member)
    html = client.get(cancel_url(FINISHED)).content.decode()
    assert "The job is finished: there is nothing to cancel." in html and "Yes, cancel" not in html
    client.post(cancel_url(RUNNING))
    html = client.get(cancel_url(RUNNING)).content.decode()
    assert "Its cancellation was already asked for, by member" in html and "Yes, cancel" not in html


def test_the_list_carries_its_filters_to_the_confirmation(client, member, jobs):
    client.force_login(member)
    html = client.get(f"{cancel_url(PENDING)}?back=spider%3Dbooks%26state%3Dpending").content.decode()
    assert '<input type="hidden" name="back" value="spider=books&amp;state=pending">' in html
    assert 'href="/p/53/?spider=books&amp;state=pending">Keep it' in html


# --- cancelling -------------------------------------------------------------------


def test_a_pending_job_is_finished_cancelled_at_once_and_recorded(client, member, jobs):
    client.force_login(member)
    response = client.post(cancel_url(PENDING))
    assert response.status_code == 302 and response["Location"] == "/p/53/job/1/1/"
    cancelled = job(PENDING)
    assert (cancelled.state, cancelled.close_reason, cancelled.meta) == (
        "finished",
        "cancelled",
        {"cancelled_by": "member"},
    )
    assert cancelled.finished_time == cancelled.ts
    assert_counts_exact()
    action = BulkAction.objects.get()
    assert (action.project_id, action.user, action.action, action.selection, action.count) == (
        53,
        member,
        "cancel",
        "key=53%2F1%2F1",
        1,
    )
    page = client.get(response["Location"]).content.decode()
    assert "Cancelled books 53/1/1: it had not started, and is now finished (cancelled)." in page
    # Finished, with the cancelled outcome's badge.
    assert re.search(r'<span class="state b-cancelled" id="job-badge"[^>]*>cancelled</span>', page)
    assert "Cancel…" not in page


def test_a_running_job_is_marked_and_shown_cancel_requested(client, member, jobs):
    client.force_login(member)
    response = client.post(cancel_url(WORKED))
    marked = job(WORKED)
    assert (marked.state, marked.close_reason, marked.meta["cancelled_by"]) == ("running", None, "member")
    assert BulkAction.objects.get().action == "cancel"
    assert_counts_exact()
    page = client.get(response["Location"]).content.decode()
    assert "Asked books 53/1/3 to stop: it shows “cancel requested” until its runner stops it." in page
    assert '<span class="state s-cancel-requested" title="Asked for by member' in page
    assert f'href="{cancel_url(WORKED)}"' not in page and "Run again…" in page
    # the list shows it too, and offers no second cancel
    html = client.get("/p/53/?state=running").content.decode()
    row = html[html.index('id="job-') :]
    assert row.count("cancel requested") == 1 and f"{cancel_url(WORKED)}?" not in html
    assert f"{cancel_url(RUNNING)}?back=state%3Drunning" in html


def test_back_returns_to_the_list(client, member, jobs):
    client.force_login(member)
    response = client.post(cancel_url(PENDING), {"back": "spider=books&state=pending"})
    assert response["Location"] == "/p/53/?spider=books&state=pending"
    html = client.get(response["Location"]).content.decode()
    assert "Cancelled books 53/1/1" in html and 'id="job-' not in html  # it left the pending list


def test_a_job_that_is_no_longer_live_is_left_alone(client, member, jobs):
    client.force_login(member)
    response = client.post(cancel_url(FINISHED))
    assert response.status_code == 302
    assert job(FINISHED).close_reason == "finished" and "cancelled_by" not in job(FINISHED).meta
    assert not BulkAction.objects.exists()
    assert (
        "books 53/1/4 is finished: there was nothing to cancel."
        in client.get(response["Location"]).content.decode()
    )


def test_a_missing_job_is_404(client, member, jobs):
    client.force_login(member)
    assert client.get("/p/53/job/1/99/cancel/").status_code == 404
    assert client.post("/p/53/job/9/1/cancel/").status_code == 404


# --- the list's rows ------------------------------------------------------------------


def test_live_rows_offer_cancel_and_keep_cancel_requested_in_the_refresh(client, member, jobs):
    client.force_login(member)
    html = client.get("/p/53/?state=pending&state=running&state=finished").content.decode()
    back = "back=state%3Dpending%26state%3Drunning%26state%3Dfinished"
    for key in (PENDING, RUNNING, WORKED):
        assert f'href="{cancel_url(key)}?{back}"' in html
        assert f'hx-get="{cancel_url(key)}?{back}"' in html
    assert cancel_url(FINISHED) not in html
    client.post(cancel_url(RUNNING))
    live = client.get(f"/p/53/live?state=running&watch={RUNNING}", headers=HTMX).content.decode()
    assert "cancel requested" in live and cancel_url(RUNNING) not in live


# --- access, CSRF, htmx, queries, records ----------------------------------------------


def test_access(client, owner, member, outsider, superuser, jobs):
    assert client.get(cancel_url(PENDING))["Location"].startswith("/login/")
    assert client.post(cancel_url(PENDING))["Location"].startswith("/login/")
    client.force_login(outsider)
    assert client.get(cancel_url(PENDING)).status_code == 404
    assert client.post(cancel_url(PENDING)).status_code == 404
    assert job(PENDING).state == "pending"
    for user, key in ((owner, PENDING), (member, RUNNING), (superuser, WORKED)):
        client.force_login(user)
        assert client.get(cancel_url(key)).status_code == 200
        assert client.post(cancel_url(key)).status_code == 302
        assert job(key).meta["cancelled_by"] == user.username
    assert list(BulkAction.objects.order_by("id").values_list("user__username", flat=True)) == [
        "owner",
        "member",
        "root",
    ]
    assert client.put(cancel_url(PENDING)).status_code == 405


def test_csrf_is_enforced(member, jobs):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post(cancel_url(PENDING)).status_code == 403
    assert job(PENDING).state == "pending"


def test_htmx_gets_the_confirmation_for_the_dialog(client, member, jobs):
    client.force_login(member)
    html = client.get(cancel_url(PENDING), headers=HTMX).content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div class="run-box">')
    assert '<h2 id="run-dialog-title">' in html
    assert "this.closest('dialog').close()" in html and "Keep it" in html


def test_query_counts(client, member, jobs, django_assert_num_queries):
    client.force_login(member)
    # session, user, project access, the job with its spider
    with django_assert_num_queries(4):
        client.get(cancel_url(PENDING))
    # the same four; a savepoint (the test runs in a transaction) around
    # cancel_jobs' savepoint: the locked read, the update, the counter
    # upserts (out of pending, into finished: per state and per day; no
    # tags), then the spider's health
    # figures for a run that ended (the run's row, the spider's figures, their
    # update, the project's alert rules), release; the BulkAction row, the
    # state read again; release. Then the message is saved with the session
    # (savepoint, update, release).
    with django_assert_num_queries(21):
        client.post(cancel_url(PENDING))


def test_the_record_is_visible_in_the_admin(client, member, admin_client, jobs):
    client.force_login(member)
    client.post(cancel_url(PENDING))
    html = admin_client.get("/admin/jobs/bulkaction/").content.decode()
    assert "member" in html and "Cancel" in html and "key=53%2F1%2F1" in html


def test_recording_fails_nothing_is_cancelled(client, member, jobs, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("the audit table is gone")

    monkeypatch.setattr(BulkAction.objects, "create", fail)
    client.force_login(member)
    with pytest.raises(RuntimeError):
        client.post(cancel_url(PENDING))
    assert job(PENDING).state == "pending" and job(PENDING).meta == {}
    assert_counts_exact()

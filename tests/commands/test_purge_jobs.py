"""purge_jobs: a project's retention policy applied in small batches; the
counters exact afterwards; a dry run that deletes nothing and says what it
would; on PostgreSQL, a job another transaction holds is skipped, never
waited for."""

import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from jobs.jobmeta import now_ms
from jobs.models import Job, JobCount, Project
from jobs.timezones import DAY_MS

from ..counting import assert_counts_exact
from ..factories import add_jobs, job_line, make_project

pytestmark = pytest.mark.django_db(transaction=True)


def days_ago(days):
    return now_ms() - int(days * DAY_MS)


@pytest.fixture
def history(db):
    """Project 53 (purge deleted after 30 days, finished after 90) and 54 (no
    policy), with jobs on both sides of each limit, in two spiders."""
    books = make_project(53, "books")
    books.purge_deleted_after_days, books.purge_finished_after_days = 30, 90
    books.save()
    make_project(54, "other")
    lines = []
    for n, (state, age) in enumerate(
        [
            ("finished", 400),
            ("finished", 91),
            ("finished", 95),
            ("finished", 89),  # kept: younger than 90 days
            ("finished", 1),
            ("deleted", 31),
            ("deleted", 200),
            ("deleted", 29),  # kept
            ("pending", 500),  # never purged
            ("running", 500),  # never purged
        ],
        start=1,
    ):
        spider, number = ("books", 1) if n % 2 else ("quotes", 2)
        lines.append(job_line(53, spider, number, n, state=state, ts=days_ago(age)))
    lines += [job_line(54, "elsewhere", 1, n, state="finished", ts=days_ago(1000)) for n in range(1, 4)]
    lines += [job_line(54, "elsewhere", 1, 10, state="deleted", ts=days_ago(1000))]
    add_jobs(*lines)
    return lines


def purge(*args):
    out, err = StringIO(), StringIO()
    call_command("purge_jobs", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def kept_keys():
    return set(Job.objects.values_list("key", flat=True))


def test_purges_what_the_policy_says_and_keeps_the_counters_exact(history):
    output = purge("--batch-size", "2", "--pause", "0")

    assert kept_keys() == {"53/2/4", "53/1/5", "53/2/8", "53/1/9", "53/2/10"} | {
        "54/1/1",
        "54/1/2",
        "54/1/3",
        "54/1/10",
    }
    assert_counts_exact()
    assert JobCount.objects.total(53, ["finished"]) == 2
    assert JobCount.objects.total(53, ["deleted"]) == 1
    assert "Project 53: 2 jobs deleted more than 30 days ago deleted in 1 batch." in output
    assert "Project 53: 3 jobs finished more than 90 days ago deleted in 2 batches." in output
    assert "5 jobs deleted from 1 project(s) with a retention policy." in output
    # A second run finds nothing more.
    assert "0 jobs deleted" in purge()


def test_dry_run_says_what_it_would_delete_and_deletes_nothing(history):
    before = kept_keys()
    output = purge("--dry-run")
    assert kept_keys() == before
    assert "Project 53: 3 jobs finished more than 90 days ago would be deleted." in output
    assert "Project 53: 2 jobs deleted more than 30 days ago would be deleted." in output
    assert "Dry run: 5 jobs would be deleted from 1 project(s)" in output


def test_only_the_projects_named(history):
    project = Project.objects.get(pk=54)
    project.purge_finished_after_days = 365
    project.save()
    purge("--project", "54")
    assert Job.objects.filter(project_id=54).count() == 1  # the deleted one: no policy for it
    assert Job.objects.filter(project_id=53).count() == 10
    assert_counts_exact()


def test_bad_arguments_are_refused(history):
    with pytest.raises(CommandError, match="There is no project 77"):
        purge("--project", "77")
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        purge("--batch-size", "0")


def test_a_restored_job_counts_from_its_restoration(history):
    from jobs.lifecycle import change_state

    change_state(Job.objects.filter(key="53/1/7"), "finished")  # deleted 200 days ago, restored now
    purge()
    assert "53/1/7" in kept_keys()
    assert_counts_exact()


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks with SKIP LOCKED are PostgreSQL's")
def test_a_job_held_by_another_transaction_is_skipped_not_waited_for(history):
    held = Job.objects.get(key="53/1/1")
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        with transaction.atomic():
            Job.objects.select_for_update().filter(pk=held.pk).get()
            locked.set()
            release.wait(60)
        connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(30)
        with connection.cursor() as cursor:
            # Were the purge to wait for the held row, this would fail it instead of hanging.
            cursor.execute("SET lock_timeout = '5s'")
        purge("--batch-size", "1", "--pause", "0")
    finally:
        release.set()
        holder.join()
    assert "53/1/1" in kept_keys()
    assert not {"53/2/2", "53/1/3", "53/2/6", "53/1/7"} & kept_keys()
    assert_counts_exact()
    purge()
    assert "53/1/1" not in kept_keys()
    assert_counts_exact()

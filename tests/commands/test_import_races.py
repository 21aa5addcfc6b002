"""import_jobs and sync_jobq's writes racing with API updates and bulk actions
on the same jobs: the counters must end equal to count(*), and the later
writer's change must be the one kept.

PostgreSQL only: that is where writers overlap (SQLite's IMMEDIATE
transactions serialise them). Each writer runs in its own thread with its
own connection; one of them is held open at a chosen point so that the
interleaving is the same on every run.
"""

import threading
from collections.abc import Callable

import orjson
import pytest
from django.db import connection, connections, transaction

from jobs.importing import import_lines
from jobs.lifecycle import change_state, update_jobs, update_request
from jobs.models import Job, Project

from ..counting import assert_counts_exact
from ..factories import BASE_TS, add_jobs, job_line

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locking"),
    pytest.mark.django_db(transaction=True),
]

JOBS = 40
# How long a test waits for a writer to reach its point before failing.
PATIENCE = 60


class Writer(threading.Thread):
    """Runs `work` in a thread with its own database connection; keeps what
    it raised, so the test fails with it."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # re-raised by finish()
            self.error = exc
        finally:
            connections.close_all()

    def finish(self) -> None:
        self.join(PATIENCE)
        assert not self.is_alive(), "a writer never finished"
        if self.error is not None:
            raise self.error


def wait_for_a_blocked_writer() -> None:
    """Return once another connection waits for a row lock."""
    for _ in range(PATIENCE * 20):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        threading.Event().wait(0.05)
    raise AssertionError("no writer ever waited for a lock")


def held_open(work: Callable[[], object], done: threading.Event, release: threading.Event) -> Writer:
    """A writer that does `work` in a transaction, then keeps it open (its
    row locks held) until `release`."""

    def run() -> None:
        with transaction.atomic():
            work()
            done.set()
            assert release.wait(PATIENCE)

    return Writer(run)


def import_lines_of(lines: list[dict]) -> Callable[[], object]:
    return lambda: import_lines(orjson.dumps(line).decode() for line in lines)


@pytest.fixture
def jobs():
    project = Project.objects.create(pk=53)
    keys = add_jobs(
        *(job_line(number=n, state="finished", close_reason="finished") for n in range(1, JOBS + 1))
    )
    return project, keys


def test_an_import_waits_for_an_api_update_of_its_jobs_and_counts_from_what_it_committed(jobs):
    project, keys = jobs
    done, release = threading.Event(), threading.Event()
    # The API moves every job to deleted and holds its transaction open…
    api = held_open(
        lambda: update_jobs(
            project=project,
            updates=[update_request({"key": key, "state": "deleted"}, project=project) for key in keys],
        ),
        done,
        release,
    )
    api.start()
    assert done.wait(PATIENCE)
    # …while an import brings the same jobs as running.
    importer = Writer(
        import_lines_of([job_line(number=n, state="running", ts=BASE_TS + 10**7) for n in range(1, JOBS + 1)])
    )
    importer.start()
    wait_for_a_blocked_writer()
    release.set()
    api.finish()
    importer.finish()

    assert set(Job.objects.values_list("state", flat=True)) == {"running"}
    assert_counts_exact()


def test_an_api_update_waits_for_an_import_and_then_applies_to_what_it_wrote(jobs):
    project, keys = jobs
    done, release = threading.Event(), threading.Event()
    importer = held_open(
        import_lines_of(
            [job_line(number=n, state="running", ts=BASE_TS + 10**7) for n in range(1, JOBS + 1)]
        ),
        done,
        release,
    )
    importer.start()
    assert done.wait(PATIENCE)
    api = Writer(
        lambda: update_jobs(
            project=project,
            updates=[update_request({"key": key, "state": "finished"}, project=project) for key in keys],
        )
    )
    api.start()
    wait_for_a_blocked_writer()
    release.set()
    importer.finish()
    api.finish()

    assert set(Job.objects.values_list("state", flat=True)) == {"finished"}
    assert_counts_exact()


def test_a_bulk_delete_racing_with_an_import_of_new_and_stored_jobs(jobs):
    project, _keys = jobs
    done, release = threading.Event(), threading.Event()
    bulk = held_open(
        lambda: change_state(Job.objects.filter(project=project), "deleted", by="alice"), done, release
    )
    bulk.start()
    assert done.wait(PATIENCE)
    importer = Writer(
        import_lines_of(
            [
                job_line(number=n, state="pending", ts=BASE_TS + 10**7)
                for n in range(JOBS // 2, JOBS + JOBS // 2)
            ]
        )
    )
    importer.start()
    wait_for_a_blocked_writer()
    release.set()
    bulk.finish()
    importer.finish()

    states = dict(Job.objects.values_list("number", "state"))
    assert {states[n] for n in range(1, JOBS // 2)} == {"deleted"}
    assert {states[n] for n in range(JOBS // 2, JOBS + JOBS // 2)} == {"pending"}
    assert_counts_exact()


def test_a_new_job_that_another_import_creates_meanwhile_is_updated_not_duplicated():
    # Spider 1's numbers already run to 50, so neither import below needs
    # its spider's row: the first place they meet is job 3's key.
    add_jobs(job_line(number=50, state="finished", close_reason="finished"))
    done, release = threading.Event(), threading.Event()
    other = held_open(
        import_lines_of([job_line(number=3, state="finished", close_reason="finished")]), done, release
    )
    other.start()
    assert done.wait(PATIENCE)
    # Job 3 is not committed yet: this import finds no stored key, and its
    # write of job 3 waits for the other import's transaction.
    importer = Writer(
        import_lines_of(
            [job_line(number=3, state="deleted", ts=BASE_TS + 10**7), job_line(number=51, state="pending")]
        )
    )
    importer.start()
    wait_for_a_blocked_writer()
    release.set()
    other.finish()
    importer.finish()

    assert dict(Job.objects.values_list("number", "state")) == {50: "finished", 3: "deleted", 51: "pending"}
    assert_counts_exact()

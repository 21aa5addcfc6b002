"""The fuzzers' world: one project of jobs in every state, built once per
module inside a transaction that is rolled back at the module's end, and a
client that sends each generated request in-process and checks the answer.

Hypothesis runs each test's examples with module-scoped fixtures only, so
the state is not rebuilt (nor reset) between examples: every write that
went through stays, as it would on a real server."""

import base64
import hashlib
from dataclasses import dataclass, field

import orjson
import pytest
from django.db import connection, transaction
from django.test import Client
from hypothesis import HealthCheck, settings

from jobs.models import BulkAction, DayCount, Job, JobCount, Spider, Tag, TagCount

from ..counting import assert_counts_exact
from ..factories import add_jobs, job_line, make_key, make_project, make_user

# Reproducible in CI: the same examples on every run, no example database.
FUZZ = settings(
    max_examples=2000,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# Requests each module must have sent, whatever hypothesis decided to stop at.
AT_LEAST = 2000


CHECKED = (Job, JobCount, TagCount, DayCount, Spider, Tag, BulkAction)


def checksum():
    """{table: digest} of every table a write may touch: jobs, the counters,
    spiders, tags, bulk actions."""
    digests = {}
    with connection.cursor() as cursor:
        for model in CHECKED:
            table = model._meta.db_table
            # Raw rows: decoding every job's JSON through the ORM costs most of the run.
            cursor.execute(f"SELECT * FROM {table} ORDER BY {model._meta.pk.column}")
            digests[table] = hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest()
    return digests


@dataclass
class Fuzzer:
    api: Client
    page: Client
    sent: int = 0
    # The checksum of the database as it is now, while no write went through since.
    known: dict[str, str] | None = None
    statuses: dict[int, int] = field(default_factory=dict)

    def send(
        self,
        method,
        path,
        *,
        query="",
        body=b"",
        content_type="application/json",
        write=False,
        api=True,
        headers=None,
    ):
        """One request; fails on a 5xx, on an API error that is not the JSON
        error shape, and on a refused write that changed the database."""
        if write and self.known is None:
            self.known = checksum()
        client = self.api if api else self.page
        url = f"{path}?{query}" if query else path
        savepoint = transaction.savepoint_create()
        response = client.generic(method, url, data=body, content_type=content_type, headers=headers or {})
        content = b"".join(response.streaming_content) if response.streaming else response.content
        failed = response.status_code >= 500
        # A failed request may leave PostgreSQL's transaction aborted: undo it, so the next runs.
        if failed:
            transaction.savepoint_rollback(savepoint)
        else:
            transaction.savepoint_commit(savepoint)
        self.sent += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        shown = f"{method} {url[:300]!r} body={body[:300]!r} -> {response.status_code}: {content[:600]!r}"
        assert not failed, shown
        if api and response.status_code >= 400 and method != "HEAD":
            assert response["Content-Type"].startswith("application/json"), shown
            error = orjson.loads(content)
            assert isinstance(error, dict) and error.get("error") and error.get("message"), shown
        if response.status_code < 400 and (write or method not in ("GET", "HEAD")):
            self.known = None  # it may have changed something
        if write and response.status_code >= 400:
            changed = [table for table, digest in checksum().items() if digest != self.known[table]]
            assert not changed, f"a refused write changed {', '.join(changed)}: {shown}"
        return response


def seed_jobs():
    lines = []
    for n in range(1, 31):
        state = ("pending", "running", "finished", "deleted")[n % 4]
        lines.append(
            job_line(
                spider="books",
                spider_number=1,
                number=n,
                state=state,
                tags=["tag-a"] if n % 2 else ["tag-b", "rare"],
                close_reason="finished" if state == "finished" else None,
                spider_args={"page": str(n)},
                items=n * 10,
            )
        )
    lines.append(job_line(spider="quotes", spider_number=2, number=3, state="finished", tags=["tag-a"]))
    lines.append(job_line(project_id=54, spider="other", spider_number=1, number=1, state="finished"))
    add_jobs(*lines)


@pytest.fixture(scope="module")
def fuzzer(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        project = make_project(53, "books")
        other = make_project(54, "other")
        key = make_key(project)
        make_key(other)
        seed_jobs()
        owner = make_user("fuzz-owner", project, "owner")
        api = Client(raise_request_exception=False)
        api.defaults["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        page = Client(raise_request_exception=False)
        page.force_login(owner)
        fuzzer = Fuzzer(api=api, page=page)
        yield fuzzer
        # The writes that went through kept the counters exact.
        assert_counts_exact()
        assert fuzzer.sent >= AT_LEAST, f"only {fuzzer.sent} requests were generated"
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _checksum_per_test(fuzzer):
    """Each test's writes are rolled back after it (its django_db mark): the
    checksum taken during the previous test no longer holds."""
    fuzzer.known = None

"""Connections lost under a running server (every backend ended, as a
restart of PostgreSQL does) are replaced: the next request succeeds. The
production server keeps its connections (CONN_MAX_AGE) and checks a kept one
before a request uses it (CONN_HEALTH_CHECKS)."""

import pytest
import requests
from django.db import connection

from .servers import environment_on_test_database, new_key

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="ends PostgreSQL backends"),
]
THREADS = 4


def end_other_backends():
    """Every connection to the test database but this test's own, as a restart would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_requests_after_every_connection_was_ended_succeed(
    request, transactional_db, tmp_path, servers, collected_static
):
    env = environment_on_test_database(request, tmp_path / "var", STATIC_ROOT=str(collected_static))
    key = new_key(env, 53)
    server = servers(env, tmp_path / "server.log", workers=1, threads=THREADS)
    auth = (key, "")

    def requests_on_every_thread():
        # Fresh connections, a few per thread, so that each thread's kept connection is used.
        return [
            requests.get(f"{server.url}/jobq/53/count", auth=auth, timeout=30).status_code
            for _ in range(THREADS * 3)
        ] + [
            requests.post(
                f"{server.url}/jobq/53/push", data=b'{"spider": "books"}', auth=auth, timeout=30
            ).status_code,
            requests.get(f"{server.url}/login/", timeout=30).status_code,
        ]

    assert set(requests_on_every_thread()) == {200}
    assert end_other_backends() >= 1  # the server's kept connections

    assert set(requests_on_every_thread()) == {200}
    assert requests.get(f"{server.url}/jobq/53/count", params={"state": "pending"}, auth=auth).json() == 2

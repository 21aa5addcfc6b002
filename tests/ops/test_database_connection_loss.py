"""Connections lost under a running server (every backend ended, as a
restart of PostgreSQL does) are replaced: the next request succeeds. The
production server keeps its connections (CONN_MAX_AGE) and checks a kept one
before a request uses it (CONN_HEALTH_CHECKS), without asking the server
(jobqsite/postgresql)."""

import time

import psycopg
import pytest
import requests
from django.db import connection, connections

from .servers import environment_on_test_database, new_key

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="ends PostgreSQL backends"),
]
THREADS = 4


def end_other_backends():
    """Every connection to the test database but this test's own, as a restart
    would: a restart answers no request until every old backend has exited,
    so this waits for each to exit (up to 10 s)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def last_query_of(pid):
    """What the backend `pid` ran last, as another connection sees it."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as observer:
        return observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


def test_a_kept_connection_is_checked_without_a_round_trip(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last query' AS marker, pg_backend_pid()")
        pid = cursor.fetchone()[1]

    assert connection.is_usable()
    # Django's own check would have run SELECT 1 on the server.
    assert last_query_of(pid) == "SELECT 'the last query' AS marker, pg_backend_pid()"


def test_a_connection_the_server_ended_or_a_failed_transaction_is_not_usable(db):
    kept = connections.create_connection("default")
    try:
        kept.ensure_connection()
        pid = kept.connection.info.backend_pid
        assert kept.is_usable()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        # The backend ends on its own time after the signal.
        deadline = time.monotonic() + 10
        while kept.is_usable() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not kept.is_usable()
        kept.close()

        kept.ensure_connection()
        kept.set_autocommit(False)
        with pytest.raises(psycopg.errors.DivisionByZero):
            kept.connection.execute("SELECT 1 / 0")
        assert not kept.is_usable()
        kept.connection.rollback()
        assert kept.is_usable()
    finally:
        kept.close()


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

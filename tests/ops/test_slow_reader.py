"""A client that reads a long answer slowly never holds writers up, and
cannot keep its read open for good: a real server (gunicorn) on the
database the tests run on, SQLite or PostgreSQL."""

import time

import orjson
import pytest
import requests
from django.db import connection

from .servers import environment_on_test_database, manage, new_key

# 4 KB of metadata and 4 KB of tags each: every stream is far larger than the
# sockets' buffers, so the server is still producing it while the client pauses.
LINES = 5000
PASSWORD = "right-password-7"


@pytest.fixture
def site(request, tmp_path, transactional_db, collected_static):
    """start(**env) -> (server, key), with LINES finished jobs in project 53
    and a superuser `staff` for the pages."""

    def start(**env):
        env = environment_on_test_database(
            request, tmp_path / "var", STATIC_ROOT=str(collected_static), **env
        )
        key = new_key(env, 53)
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            "createsuperuser", "--no-input", "--username", "staff", "--email", "staff@example.com",
        )  # fmt: skip
        jobs = (
            {
                "key": f"53/1/{n}",
                "spider": "books",
                "state": "finished",
                "finished_time": 1_700_000_000_000 + n,
                "note": "x" * 4096,
                "tags": [f"{tag:02}" + "t" * 250 for tag in range(16)],
            }
            for n in range(1, LINES + 1)
        )
        manage(env, "import_jobs", "-", stdin="\n".join(orjson.dumps(job).decode() for job in jobs))
        server = request.getfixturevalue("servers")(env, tmp_path / "server.log")
        return server, key

    return start


def logged_in(server):
    session = requests.Session()
    session.get(f"{server.url}/login/")
    answer = session.post(
        f"{server.url}/login/",
        data={"username": "staff", "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        allow_redirects=False,
    )
    assert answer.status_code == 302
    return session


def open_list(server, key):
    return requests.get(
        f"{server.url}/jobq/53/list",
        params={"count": LINES, "jobmeta": "note"},
        auth=(key, ""),
        stream=True,
        timeout=60,
    )


def open_export(server, key):
    return logged_in(server).get(f"{server.url}/p/53/export.csv", stream=True, timeout=60)


def keys_in_csv(body):
    return [line.split(b",", 1)[0].decode() for line in body.splitlines()[1:]]


def test_a_push_answers_while_a_slow_reader_holds_a_long_list_open(site):
    server, key = site()
    with open_list(server, key) as reader:
        chunks = reader.iter_content(4096)
        body = next(chunks)
        # The reader has read 4 KB of about 20 MB and pauses: the server is in the middle of the stream.
        pushed = requests.post(
            f"{server.url}/jobq/53/push", data=b'{"spider": "books"}', auth=(key, ""), timeout=10
        )
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["key"] == "53/1/5001"
        # Only now does the reader go on, and it gets the whole list as it was when it began.
        body += b"".join(chunks)
    lines = [orjson.loads(line) for line in body.splitlines()]
    assert len(lines) == LINES
    assert [line["key"] for line in lines[:2]] == ["53/1/5000", "53/1/4999"]
    pending = requests.get(f"{server.url}/jobq/53/count", params={"state": "pending"}, auth=(key, ""))
    assert pending.json() == 1


def test_a_push_answers_while_a_slow_reader_holds_an_export_open(site):
    server, key = site()
    with open_export(server, key) as reader:
        assert reader.status_code == 200
        chunks = reader.iter_content(4096)
        body = next(chunks)
        pushed = requests.post(
            f"{server.url}/jobq/53/push", data=b'{"spider": "books"}', auth=(key, ""), timeout=10
        )
        assert pushed.status_code == 200, pushed.text
        body += b"".join(chunks)
    keys = keys_in_csv(body)
    assert len(keys) == LINES
    assert keys[:2] == ["53/1/5000", "53/1/4999"]


def idle_in_transaction():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_reader_stalled_past_the_stream_time_limit_is_cut_cleanly(site):
    server, key = site(JOBQ_STREAM_TIME_LIMIT="1")
    with open_list(server, key) as reader:
        chunks = reader.iter_content(4096)
        body = next(chunks)
        time.sleep(3)  # stalled past the limit
        if connection.vendor == "postgresql":
            # PostgreSQL ended the stalled transaction: it holds no snapshot any more.
            assert idle_in_transaction() == 0
        # The answer ends (properly: no broken chunk), short of the whole list.
        body += b"".join(chunks)
    lines = [orjson.loads(line) for line in body.splitlines()]
    assert 0 < len(lines) < LINES
    assert "A stream was cut at JOBQ_STREAM_TIME_LIMIT=1 s" in server.log()
    assert "Traceback" not in server.log()
    # The server goes on serving, on a working connection.
    assert requests.get(f"{server.url}/jobq/53/count", auth=(key, "")).json() == LINES
    if connection.vendor == "postgresql":
        assert idle_in_transaction() == 0

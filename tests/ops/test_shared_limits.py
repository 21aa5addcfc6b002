"""Two production servers (gunicorn processes) sharing one database and the
machine's Redis: the per-key API rate limit and the login throttle (per user
name and per address) hold across them. Without Redis each process counts
on its own, which the first test shows is not enough."""

import os
import socket
import uuid
from urllib.parse import urlsplit

import pytest
import redis
import requests

from .servers import Server, local_environment, manage, new_key, prepare_var_dir, require

REDIS_URL = os.environ.get("JOBQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
LIMITS = {
    "JOBQ_RATE_LIMIT": "10/3600",
    "JOBQ_LOGIN_LIMIT_PER_USER": "2/3600",
    "JOBQ_LOGIN_LIMIT_PER_ADDRESS": "4/3600",
    # Behind one proxy: each test logs in from an address of its own (X-Forwarded-For).
    "JOBQ_TRUSTED_PROXIES": "1",
}


def redis_reachable():
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def shared_redis():
    """The settings of a Redis cache under a key prefix of this module alone; its keys go afterwards."""
    require(redis_reachable(), f"no Redis at {REDIS_URL}")
    prefix = f"jobq-test-{uuid.uuid4().hex}"
    yield {"REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def start_two_servers(directory, template, static, **env):
    var = prepare_var_dir(template, directory / "var")
    env = local_environment(var, STATIC_ROOT=str(static), **LIMITS, **env)
    for name in ("alice", "bob"):
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": "right-password-7"},
            "createsuperuser",
            "--no-input",
            "--username",
            name,
            "--email",
            f"{name}@example.com",
        )
    started = []
    try:
        for name in ("first", "second"):
            started.append(Server(env, directory / f"{name}.log").start())
    except BaseException:
        for server in started:
            server.stop(quick=True)
        raise
    return started, env


@pytest.fixture(scope="module")
def redis_servers(tmp_path_factory, migrated_sqlite, collected_static, shared_redis):
    """Two servers, one database, one Redis: shared by the tests of this module,
    each with keys and addresses of its own."""
    pair, env = start_two_servers(
        tmp_path_factory.mktemp("redis"), migrated_sqlite, collected_static, **shared_redis
    )
    yield (*pair, env)
    for server in pair:
        server.stop(quick=True)


def counts(server_pairs, key):
    return [requests.get(f"{server.url}/jobq/53/count", auth=(key, "")) for server in server_pairs]


def test_the_rate_limit_holds_across_servers_with_redis(redis_servers):
    first, second, env = redis_servers
    key, other_key = new_key(env, 53), new_key(env, 53)

    allowed = counts([first, second] * 5, key)
    assert [answer.status_code for answer in allowed] == [200] * 10
    refused = counts([first, second], key)
    assert [answer.status_code for answer in refused] == [429, 429]
    for answer in refused:
        assert answer.json()["error"] == "throttled"
        assert 1 <= int(answer.headers["Retry-After"]) <= 3600
    # Each key has its own allowance, on both servers.
    assert [answer.status_code for answer in counts([first, second], other_key)] == [200, 200]


def test_without_a_shared_cache_each_server_counts_alone(tmp_path, migrated_sqlite, collected_static):
    pair, env = start_two_servers(tmp_path, migrated_sqlite, collected_static)
    try:
        key = new_key(env, 53)
        # 12 requests, 6 per process: each process sees only its own 6 of the 10 allowed.
        assert [answer.status_code for answer in counts(pair * 6, key)] == [200] * 12
    finally:
        for server in pair:
            server.stop(quick=True)


def log_in(session, server, username, password, path="/login/"):
    session.get(f"{server.url}{path}")
    return session.post(
        f"{server.url}{path}",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
    )


def client_at(address):
    """A browser at `address`, as the proxy in front reports it."""
    session = requests.Session()
    session.headers["X-Forwarded-For"] = address
    return session


def test_failed_logins_are_counted_per_user_across_servers(redis_servers):
    first, second, _ = redis_servers
    # Two addresses: the per-user count is what stops the third attempt.
    with client_at("192.0.2.1") as one, client_at("192.0.2.2") as other:
        failures = [log_in(one, first, "alice", "wrong"), log_in(other, second, "alice", "wrong")]
        assert [answer.status_code for answer in failures] == [200, 200]
        assert all("Please enter a correct" in answer.text for answer in failures)

        # The third attempt, from either address, on either server, is refused
        # before the password is checked: even the right one.
        throttled = log_in(one, second, "alice", "right-password-7")
        assert throttled.status_code == 429
        assert "Too many failed logins" in throttled.text
        assert 1 <= int(throttled.headers["Retry-After"]) <= 3600
        assert "sessionid" not in one.cookies
        # The admin's login counts the same failures.
        admin = log_in(other, first, "alice", "right-password-7", path="/admin/login/")
        assert admin.status_code == 200 and "Too many failed logins" in admin.text
        assert "sessionid" not in other.cookies


def test_failed_logins_are_counted_per_address_across_servers(redis_servers):
    first, second, _ = redis_servers
    with client_at("198.51.100.7") as guesser, client_at("198.51.100.8") as neighbour:
        # Four user names, one failure each: none reaches its own limit of 2,
        # but the address reaches its limit of 4.
        for number in range(4):
            assert log_in(guesser, (first, second)[number % 2], f"guess{number}", "wrong").status_code == 200
        assert log_in(guesser, first, "bob", "right-password-7").status_code == 429
        assert "sessionid" not in guesser.cookies
        # Another address logs in as usual.
        assert log_in(neighbour, second, "bob", "right-password-7").status_code == 302

"""The login page and the admin's login: failed logins are counted in the
cache per user name and per client address; past the limit the password is
not checked, the page says so and answers 429. (Across servers, through
Redis: tests/ops/test_shared_limits.py.)"""

import pytest
from django.core.cache import cache

from ..factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    cache.clear()
    settings.JOBQ_LOGIN_LIMIT_PER_USER = (3, 900)
    settings.JOBQ_LOGIN_LIMIT_PER_ADDRESS = (5, 900)
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    return make_user("alice")


def log_in(client, username, password, path="/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def test_right_password_logs_in(client, alice):
    response = log_in(client, "alice", "pw")
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_failures_per_user_name_stop_even_the_right_password(client, alice):
    for _ in range(3):
        response = log_in(client, "alice", "wrong")
        assert response.status_code == 200
        assert "Please enter a correct" in response.content.decode()

    response = log_in(client, "alice", "pw")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 900
    assert "Too many failed logins" in response.content.decode()
    assert "try again in 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The user name is compared as typed, whatever its case and spaces.
    assert log_in(client, " ALICE ", "pw").status_code == 429


def test_failures_per_address_stop_every_user_name(client, alice):
    for number in range(5):
        assert log_in(client, f"guess{number}", "wrong").status_code == 200
    assert log_in(client, "alice", "pw").status_code == 429
    # Another address is not concerned.
    assert log_in(client, "alice", "pw", REMOTE_ADDR="203.0.113.9").status_code == 302


def test_a_successful_login_clears_its_user_names_failures(client, alice):
    for _ in range(2):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", "pw").status_code == 302
    client.logout()
    for _ in range(2):
        assert log_in(client, "alice", "wrong").status_code == 200
    assert log_in(client, "alice", "pw").status_code == 302


def test_the_admin_login_counts_the_same_failures(client):
    make_user("root", is_staff=True, is_superuser=True)
    for _ in range(2):
        log_in(client, "root", "wrong")
    log_in(client, "root", "wrong", path="/admin/login/")
    response = log_in(client, "root", "pw", path="/admin/login/")
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, alice, settings):
    settings.JOBQ_TRUSTED_PROXIES = 1
    for number in range(5):
        log_in(client, f"guess{number}", "wrong", HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.1")
    # Throttled, whatever the client wrote before the proxy's entry.
    assert log_in(client, "alice", "pw", HTTP_X_FORWARDED_FOR="another-lie, 198.51.100.1").status_code == 429
    assert log_in(client, "alice", "pw", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 302


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(client, alice):
    for number in range(5):
        log_in(client, f"guess{number}", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{number}")
    assert log_in(client, "alice", "pw", HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429


def test_limits_can_be_turned_off(client, alice, settings):
    settings.JOBQ_LOGIN_LIMIT_PER_USER = settings.JOBQ_LOGIN_LIMIT_PER_ADDRESS = None
    for _ in range(20):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", "pw").status_code == 302

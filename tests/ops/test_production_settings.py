"""The rule between the local run and production (jobqsite/settings.py):
without JOBQ_LOCAL, a missing SECRET_KEY or ALLOWED_HOSTS stops every
start-up with a message saying what to set; the documented production
environment passes `manage.py check --deploy` without a warning; the local
secret key is created once, privately, whoever starts first."""

import json
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from .servers import BIN, ROOT, clean_environment, free_port, manage

READ_SETTINGS = (
    "import json, sys; import jobqsite.settings as s; "
    "print(json.dumps({name: repr(getattr(s, name)) for name in sys.argv[1:]}))"
)


def settings_of(env, *names):
    done = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS, *names], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refusal(env):
    """The ImproperlyConfigured message that stops importing the settings."""
    done = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    return done.stderr.strip().splitlines()[-1]


def documented_production_environment(tmp_path):
    """The environment file of docs/operations.md, placeholders filled in."""
    text = (ROOT / "docs" / "operations.md").read_text()
    block = re.search(r"<!-- production-environment -->\s*```[a-z]*\n(.*?)```", text, re.S).group(1)
    env = {}
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        if value.startswith("<"):  # a secret of the reader's own
            value = {"SECRET_KEY": "s" * 20 + "3cr3t-k3y-0f-50-characters-and-more-9"}.get(name, "p" * 24)
        env[name] = value.replace("<password>", "pw")
    return env


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "SECRET_KEY and ALLOWED_HOSTS are not set"),
        ({"SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS is not set"),
        ({"ALLOWED_HOSTS": "jobq.example.com"}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS is not set"),
        ({"DEBUG": "1"}, "SECRET_KEY and ALLOWED_HOSTS are not set"),
    ],
)
def test_production_without_a_key_or_host_names_stops(tmp_path, given, missing):
    message = refusal(clean_environment(JOBQ_VAR_DIR=str(tmp_path), **given))
    assert "ImproperlyConfigured" in message
    assert missing in message
    assert "JOBQ_LOCAL" in message  # and how to run locally instead
    assert not (tmp_path / "secret-key").exists()


def test_manage_py_and_the_server_stop_with_the_message(tmp_path):
    env = clean_environment(JOBQ_VAR_DIR=str(tmp_path), ALLOWED_HOSTS="jobq.example.com")
    done = manage(env, "migrate", check=False)
    assert done.returncode != 0 and "SECRET_KEY is not set" in done.stderr

    server = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "jobqsite/gunicorn.conf.py", "--bind", f"127.0.0.1:{free_port()}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode != 0
    assert "jobq cannot start: jobq is starting as a production server" in server.stderr
    assert "Traceback" not in server.stderr  # one message, no worker booted


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    env = clean_environment(JOBQ_VAR_DIR=str(tmp_path), **documented_production_environment(tmp_path))
    assert "JOBQ_LOCAL" not in env and env["SECURE_SSL_REDIRECT"] == "1"
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING", check=False)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    values = settings_of(env, "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CACHES")
    assert values["SECURE_PROXY_SSL_HEADER"] == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert values["SESSION_COOKIE_SECURE"] == "True"
    assert "RedisCache" in values["CACHES"]


def test_the_local_run_needs_nothing_and_keeps_its_key(tmp_path):
    env = clean_environment(JOBQ_LOCAL="1", JOBQ_VAR_DIR=str(tmp_path), HOST="192.168.1.20")
    first = settings_of(env, "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")
    assert first["ALLOWED_HOSTS"] == "['127.0.0.1', 'localhost', '[::1]', '192.168.1.20']"
    assert first["DEBUG"] == "False"
    assert settings_of(env, "SECRET_KEY") == {"SECRET_KEY": first["SECRET_KEY"]}
    # Listening on every address adds no name: ALLOWED_HOSTS says which.
    everywhere = settings_of({**env, "HOST": "0.0.0.0"}, "ALLOWED_HOSTS")
    assert everywhere["ALLOWED_HOSTS"] == "['127.0.0.1', 'localhost', '[::1]']"


def test_processes_starting_together_share_one_private_key(tmp_path):
    env = clean_environment(JOBQ_LOCAL="1", JOBQ_VAR_DIR=str(tmp_path))
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: settings_of(env, "SECRET_KEY")["SECRET_KEY"], range(8)))
    assert len(keys) == 1
    path = tmp_path / "secret-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert repr(path.read_text().strip()) in keys
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret-key"]  # no temporary file left


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL must be a redis://"),
        ({"REDIS_URL": "redis://a/0", "CACHE_URL": "redis://b/0"}, "REDIS_URL and CACHE_URL are both set"),
        ({"METRICS_ALLOWED_ADDRESSES": "10.0.0.0/8,intranet"}, "'intranet' is not an IP address"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN must be at least 16"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='LOUD'"),
        ({"JOBQ_LOGIN_LIMIT_PER_USER": "ten"}, "JOBQ_LOGIN_LIMIT_PER_USER='ten' must look like"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS='a year' is not an integer"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}, "is not a header name"),
        ({"DATABASE_REPLICA_URL": "postgres://r/jobq"}, "DATABASE_REPLICA_URL needs a PostgreSQL primary"),
        (
            {"DATABASE_URL": "postgres://p/jobq", "DATABASE_REPLICA_URL": "postgres://r/jobq"},
            "DATABASE_REPLICA_URL needs REDIS_URL",
        ),
        (
            {
                "DATABASE_URL": "postgres://p/jobq",
                "DATABASE_REPLICA_URL": "sqlite:///x",
                "REDIS_URL": "redis://c",
            },
            "DATABASE_REPLICA_URL must be a postgres:// URL",
        ),
    ],
)
def test_bad_values_stop_with_a_message_naming_them(tmp_path, env, message):
    assert message in refusal(clean_environment(JOBQ_LOCAL="1", JOBQ_VAR_DIR=str(tmp_path), **env))


def test_https_behind_a_proxy_from_the_environment(tmp_path):
    env = clean_environment(
        JOBQ_LOCAL="1",
        JOBQ_VAR_DIR=str(tmp_path),
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        SECURE_SSL_REDIRECT="yes",
        SECURE_HSTS_SECONDS="3600",
        SECURE_COOKIES="on",
    )
    values = settings_of(
        env, "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "CSRF_COOKIE_SECURE"
    )
    assert values == {
        "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')",
        "SECURE_SSL_REDIRECT": "True",
        "SECURE_HSTS_SECONDS": "3600",
        "CSRF_COOKIE_SECURE": "True",
    }


@pytest.mark.django_db
def test_the_forwarded_proto_decides_the_redirect_and_hsts(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    plain = client.get("/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/login/"
    secure = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=3600"


def test_postgres_connections_prepare_the_fixed_sql_unless_turned_off(tmp_path):
    env = clean_environment(JOBQ_LOCAL="1", JOBQ_VAR_DIR=str(tmp_path))
    url = "postgres://jobq@db.example:5432/jobq"
    # A threshold psycopg never reaches: only what jobs/fixedsql.py asks for is prepared.
    plain = settings_of({**env, "DATABASE_URL": url}, "DATABASES")["DATABASES"]
    assert "'prepare_threshold': 2147483647" in plain
    # For a pooler that cannot keep prepared statements.
    off = settings_of({**env, "DATABASE_URL": url, "PREPARED_STATEMENTS": "0"}, "DATABASES")["DATABASES"]
    assert "prepare_threshold" not in off


def test_postgres_connections_run_without_jit_unless_the_url_asks_for_it(tmp_path):
    env = clean_environment(JOBQ_LOCAL="1", JOBQ_VAR_DIR=str(tmp_path))
    url = "postgres://jobq@db.example:5432/jobq"
    plain = settings_of({**env, "DATABASE_URL": url}, "DATABASES")["DATABASES"]
    assert "'options': '-c jit=off'" in plain
    # libpq applies -c options in order: the URL's own comes last and wins.
    asked = settings_of({**env, "DATABASE_URL": url + "?options=-c%20jit%3Don"}, "DATABASES")["DATABASES"]
    assert "'options': '-c jit=off -c jit=on'" in asked

"""Real jobq servers for the operations tests: the production server
(gunicorn with jobqsite/gunicorn.conf.py) in its own process, with its own
SQLite database and var dir, driven through manage.py like an operator would.

Nothing in here imports the test process's Django: each server and command
reads its settings from the environment it is given.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# What a server inherits from the test run: the basics of a process, nothing
# of jobq's configuration (tests and scripts run in this process set some).
INHERITED = {"PATH", "HOME", "LANG", "LANGUAGE", "TERM", "TMPDIR", "TZ", "USER", "LOGNAME", "SHELL", "CI"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require(condition, reason):
    """Skip when a tool the test needs is absent; in CI (CI=true), fail instead."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


def clean_environment(**env):
    base = {name: value for name, value in os.environ.items() if name in INHERITED or name.startswith("LC_")}
    return {**base, "DJANGO_SETTINGS_MODULE": "jobqsite.settings", **env}


def local_environment(var_dir, **env):
    """A local run (JOBQ_LOCAL=1) with its own SQLite database under var_dir."""
    return clean_environment(
        **{
            "JOBQ_LOCAL": "1",
            "JOBQ_VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{Path(var_dir) / 'db.sqlite3'}",
            **env,
        }
    )


def manage(env, *args, check=True, stdin=None):
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def new_key(env, project):
    """A read-write API key for the project, created as an operator would."""
    return manage(env, "create_api_key", "--project", str(project)).stdout.strip().splitlines()[-1]


def prepare_var_dir(template, var_dir):
    """A copy of a migrated database: migrating once per session, not per server."""
    var_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(template / "db.sqlite3", var_dir / "db.sqlite3")
    return var_dir


class Server:
    """gunicorn -c jobqsite/gunicorn.conf.py on a free port; its whole
    output (gunicorn's and jobq's logs) goes to `log_path`."""

    def __init__(self, env, log_path, *, workers=1, threads=4):
        self.env = {**env}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.args = ["--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads)]
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "jobqsite/gunicorn.conf.py", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to end it whole if need be
            )
        # Wait until it answers (start-up, not a timed assertion).
        try:
            for _ in range(300):
                assert self.process.poll() is None, self.log()
                try:
                    requests.get(self.url + "/healthz", timeout=30)
                    return self
                except requests.RequestException:  # not listening yet, or still loading
                    time.sleep(0.05)
            raise AssertionError(f"the server did not start:\n{self.log()}")
        except BaseException:
            self.stop(quick=True)  # never left running behind a failed start
            raise

    def stop(self, *, quick=False):
        """TERM: graceful, every running request ends (and logs); INT: at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if quick else signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise AssertionError(f"the server did not stop:\n{self.log()}") from None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def environment_on_test_database(request, var_dir, **env):
    """A local run on the database the test run uses: on PostgreSQL the test
    database itself (the test asks for transactional_db, which empties it
    afterwards), on SQLite a copy of a migrated database under var_dir (the
    test run's is in memory)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        template = request.getfixturevalue("migrated_sqlite")
        return local_environment(prepare_var_dir(template, var_dir), **env)
    settings = connection.settings_dict
    credentials = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    url = f"postgres://{credentials}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    var_dir.mkdir(parents=True, exist_ok=True)
    return clean_environment(JOBQ_LOCAL="1", JOBQ_VAR_DIR=str(var_dir), DATABASE_URL=url, **env)

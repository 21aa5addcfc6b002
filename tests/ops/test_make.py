"""The README's `make run` and `make dev`, run as a user runs them in the
checkout: each with its own var dir (JOBQ_VAR_DIR: the SQLite database, the
secret key and the demo credentials), on a free port, then stopped whole
(make, the server, its workers and the alert worker: one process group)."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .servers import ROOT, clean_environment, free_port, require

# A bound on a hang of a busy machine; the first run loads the demo jobs.
START_TIMEOUT = 240


class Make:
    """`make TARGET` with HOST, PORT and JOBQ_VAR_DIR, its output in a file."""

    def __init__(self, target, var_dir, *, host="127.0.0.1"):
        require(shutil.which("make"), "make is not installed")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(var_dir) / f"make-{target}-{self.port}.log"
        # Only what a user's shell would have: no DATABASE_URL, so the local
        # run's SQLite database under JOBQ_VAR_DIR.
        env = clean_environment(JOBQ_VAR_DIR=str(var_dir), HOST=host, PORT=str(self.port))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", target],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: make and all it starts
            )

    def output(self):
        return self.log_path.read_text(errors="replace")

    def wait_for_banner(self):
        """The banner's URL line, then the server answering at that URL."""
        deadline = time.monotonic() + START_TIMEOUT
        line = f"jobq:     {self.url}/"
        while line not in self.output():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"no banner:\n{self.output()}"
            time.sleep(0.2)
        while True:
            assert self.process.poll() is None, self.output()
            try:
                requests.get(f"{self.url}/healthz", timeout=30)
                return self.output()
            except requests.ConnectionError:
                assert time.monotonic() < deadline, f"the server did not answer:\n{self.output()}"
                time.sleep(0.2)

    def processes(self):
        """The command lines of make's session (its own, from start_new_session)."""
        listed = subprocess.run(
            ["ps", "-s", str(self.process.pid), "-o", "args="], capture_output=True, text=True, check=True
        )
        return listed.stdout

    def stop(self):
        """TERM to the whole group, as a terminal's Ctrl-C reaches all of it;
        every process of the group must be gone."""
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=60)
            deadline = time.monotonic() + 60
            while group_alive(group):
                assert time.monotonic() < deadline, "processes of make's group outlived it"
                time.sleep(0.1)
        finally:
            if group_alive(group):
                os.killpg(group, signal.SIGKILL)


def group_alive(group):
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    """One var dir for the module: the first command to run loads the demo jobs."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture
def make(var_dir):
    started = []

    def start(target, **options):
        command = Make(target, var_dir, **options)
        started.append(command)
        return command

    yield start
    for command in started:
        command.stop()


def banner_key(banner, url):
    return re.search(rf"curl -u ([0-9a-f]{{32}}): {re.escape(url)}/jobq/101/count", banner).group(1)


def test_make_run_serves_the_demo_with_gunicorn_and_debug_off(make, var_dir):
    run = make("run")
    banner = run.wait_for_banner()
    head = requests.head(f"{run.url}/", timeout=30)
    assert head.status_code == 302 and head.headers["Location"] == "/login/?next=/"
    assert head.headers["Server"] == "gunicorn" and "WSGIServer" not in head.headers["Server"]
    missing = requests.get(f"{run.url}/no-such-page/", timeout=30)
    assert missing.status_code == 404
    assert "URLconf" not in missing.text and "DEBUG = True" not in missing.text
    # The demo jobs are in the var dir's database, reachable with the banner's key.
    assert (var_dir / "db.sqlite3").exists() and (var_dir / "demo-credentials.json").exists()
    count = requests.get(f"{run.url}/jobq/101/count", auth=(banner_key(banner, run.url), ""), timeout=30)
    assert count.status_code == 200 and int(count.text) > 0
    # The alert worker runs beside the server, in make's process group.
    assert "manage.py alert_worker" in run.processes()
    run.stop()
    assert f"{run.url}/" not in served(run.url)


def test_make_dev_serves_with_django_s_development_server_and_debug_pages(make, var_dir):
    dev = make("dev")
    banner = dev.wait_for_banner()
    head = requests.head(f"{dev.url}/", timeout=30)
    assert head.headers["Server"].startswith("WSGIServer/")
    missing = requests.get(f"{dev.url}/no-such-page/", timeout=30)
    assert missing.status_code == 404
    assert "Using the URLconf defined in" in missing.text and "DEBUG = True" in missing.text
    assert banner_key(banner, dev.url)
    dev.stop()
    assert f"{dev.url}/" not in served(dev.url)


def test_make_dev_refuses_an_address_off_the_loopback(make):
    dev = make("dev", host="0.0.0.0")
    assert dev.process.wait(timeout=60) != 0
    assert "make dev serves DEBUG pages: loopback only" in dev.output()
    assert "jobq:" not in dev.output()


def served(url):
    """The URL when something still answers there, else an empty string."""
    try:
        requests.get(f"{url}/healthz", timeout=5)
    except requests.ConnectionError:
        return ""
    return f"{url}/"

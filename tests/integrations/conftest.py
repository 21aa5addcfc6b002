"""Real Scrapy crawls against a live jobq: the crawls, the worker and jobq's
server each run as they do in production, in their own processes.

- `site`: the pages the spiders crawl, served by the test (site.py).
- `jobq`: the live server (`live`) made safe for several clients at once.
- `crawler`: starts `scrapy crawl` in tests/integrations/scrapy_project.
- `worker`: starts `jobq-worker` on project 53's queue.
- `jobq_process`: jobq as its own process, which a test can stop and restart.
- `scrapyd`: a real Scrapyd that runs the test project's spiders.

While crawls or workers run, read jobq through the scrapinghub client (`shub`),
not the ORM: on SQLite the live server shares the test's database connection.
"""

import datetime as datetime_module
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
import requests
from django.db import connection

from ..conftest import requests_take_turns
from ..factories import make_key, make_project
from .site import Site

ROOT = Path(__file__).resolve().parent.parent.parent
SCRAPY_PROJECT = Path(__file__).with_name("scrapy_project")
# Whatever the machine has set for Scrapy Cloud, Scrapy or jobq stays out of
# the processes the tests start: each test gives them exactly what it means.
FOREIGN_PREFIXES = ("SHUB_", "SH_", "JOBQ_", "SCRAPY_", "SCRAPYD_", "DATABASE_URL")
# Generous bounds for a busy 2-core machine; a healthy run takes a fraction.
WAIT = 60
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def clean_environ(**extra):
    env = {name: value for name, value in os.environ.items() if not name.startswith(FOREIGN_PREFIXES)}
    env.update({name: str(value) for name, value in extra.items()})
    return env


def wait_until(condition, what, timeout=WAIT, interval=0.1):
    """condition()'s first true value; fails the test after `timeout` seconds.
    A bound on a hang, not a measure of speed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(interval)


# --- what Scrapy printed ------------------------------------------------------------

STATS_DUMP = re.compile(r"Dumping Scrapy stats:\n(\{.*?\})\n(?=\d{4}-\d\d-\d\d |\Z)", re.S)


def printed_stats(log):
    """The stats of the crawl's "Dumping Scrapy stats" block, as jobq stores
    them: datetimes as milliseconds since the epoch."""
    dumps = STATS_DUMP.findall(log)
    assert len(dumps) == 1, log
    stats = eval(dumps[0], {"datetime": datetime_module})  # a pprint of plain values and datetimes
    return {
        name: (value - EPOCH) // timedelta(milliseconds=1) if isinstance(value, datetime) else value
        for name, value in stats.items()
    }


def read_items(path):
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


# --- processes ----------------------------------------------------------------------


class Process:
    """A subprocess whose output (stdout and stderr) is collected as it comes."""

    def __init__(self, command, *, env, cwd):
        self.command = command
        self.popen = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.popen.stdout:
            self._lines.append(line)

    @property
    def output(self):
        return "".join(self._lines)

    def wait(self, timeout=WAIT):
        try:
            returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise AssertionError(f"{self.command[2:4]} did not end:\n{self.output}") from None
        self._reader.join(5)
        return returncode

    def signal(self, signum):
        self.popen.send_signal(signum)

    def end(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


class Crawl(Process):
    def __init__(self, spider, args, *, settings, env, cwd, items):
        command = [sys.executable, "-m", "scrapy", "crawl", spider]
        for name, value in args.items():
            command += ["-a", f"{name}={value}"]
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        super().__init__(command, env=env, cwd=cwd)
        self.items_file = items

    @property
    def items(self):
        return read_items(self.items_file)

    @property
    def printed_stats(self):
        return printed_stats(self.output)

    def finish(self):
        """Wait for the crawl to end; it must end well."""
        assert self.wait() == 0, self.output
        return self


@pytest.fixture
def site():
    site = Site()
    yield site
    site.stop()


@pytest.fixture
def jobq(live):
    """The live server, ready for crawls and workers that call it at once
    (requests_take_turns)."""
    with requests_take_turns(live):
        yield live


@pytest.fixture
def crawl_env(jobq, apikey, site):
    """What a cron job's environment would hold, with short intervals for tests."""
    return clean_environ(
        JOBQ_URL=jobq.url,
        JOBQ_APIKEY=apikey,
        JOBQ_PROJECT=53,
        JOBQ_STATS_INTERVAL=0.2,
        JOBQ_RETRY_MAX_DELAY=0.5,
        TESTBOT_SITE=site.url,
    )


@pytest.fixture
def crawler(crawl_env, tmp_path):
    """crawler("books", pages=3, settings={…}, env=…, cwd=…): `scrapy crawl
    books -a pages=3 -s …` started in the test project; the items it scrapes
    go to a file."""
    started = []

    def start(spider, *, settings=None, env=None, cwd=SCRAPY_PROJECT, **args):
        items = tmp_path / f"items-{len(started)}.jl"
        env = {**(env or crawl_env), "TESTBOT_ITEMS": str(items)}
        process = Crawl(spider, args, settings=settings or {}, env=env, cwd=cwd, items=items)
        started.append(process)
        return process

    yield start
    for process in started:
        process.end()


class Worker(Process):
    def __init__(self, *args, env, log_dir):
        command = [sys.executable, "-m", "scrapy_jobq.worker", "--project", "53", *args]
        super().__init__(command, env=env, cwd=SCRAPY_PROJECT)
        self.log_dir = log_dir

    def crawl_log(self, key):
        return (self.log_dir / f"{key.replace('/', '-')}.log").read_text()

    def stop(self):
        """SIGTERM, as a service manager stops it; it must exit cleanly."""
        self.signal(signal.SIGTERM)
        assert self.wait() == 0, self.output
        return self


@pytest.fixture
def worker(crawl_env, tmp_path):
    """worker("--slots", "2"): jobq-worker on project 53's queue, polling fast."""
    started = []

    def start(*args, env=None):
        log_dir = tmp_path / f"worker-{len(started)}"
        process = Worker(
            "--scrapy-project",
            str(SCRAPY_PROJECT),
            "--poll-interval",
            "0.2",
            "--log-dir",
            str(log_dir),
            *args,
            env={**(env or crawl_env), "TESTBOT_ITEMS": str(tmp_path / "worker-items.jl")},
            log_dir=log_dir,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGINT)
            process.popen.send_signal(signal.SIGINT)  # twice: kill its crawls too
            try:
                process.popen.wait(10)
            except subprocess.TimeoutExpired:
                process.end()


def push(client, spider, **meta):
    """A job pushed through JobQ's push, as the scrapinghub client does it."""
    return client._hsclient.get_project(53).push_job(spider, **meta).key


def job_of(client, key):
    """A job's whole metadata, through the scrapinghub client."""
    return dict(client.get_job(key).metadata.iter())


def figures(client, key):
    """items and pages of the job as the job list (and the dashboard) show them."""
    line = client.get_project(53).jobs.list(key=key, state=["pending", "running", "finished"])[0]
    return line.get("items"), line.get("pages")


def wait_for_state(client, key, state, timeout=WAIT):
    return wait_until(
        lambda: (meta := job_of(client, key))["state"] == state and meta, f"{key} to be {state}", timeout
    )


# --- jobq in its own process ----------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JobqServer:
    """`manage.py runserver` on a port of its own: stop() ends the process
    (every connection with it), start() serves again on the same address."""

    def __init__(self, directory, database_url):
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A local run (JOBQ_LOCAL): its own generated secret key, loopback host names.
        self.env = clean_environ(
            DATABASE_URL=database_url,
            JOBQ_VAR_DIR=directory,
            JOBQ_LOCAL="1",
            DJANGO_SETTINGS_MODULE="jobqsite.settings",
        )
        self.process = None

    def manage(self, *args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def start(self):
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 (the process keeps it)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                "--noreload",
                "--skip-checks",
                f"127.0.0.1:{self.port}",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def answers():
            assert self.process.poll() is None, (self.directory / "server.log").read_text()
            try:
                return requests.get(self.url + "/jobq/53/count", timeout=5).status_code
            except requests.ConnectionError:
                return None

        wait_until(answers, "jobq's server to start")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None


@pytest.fixture
def jobq_process(transactional_db, tmp_path):
    """jobq served by its own process, for a test that stops it; `.apikey`
    is a key for project 53. On PostgreSQL it serves the test database; on
    SQLite the test database lives in this process's memory, out of another
    process's reach, so the server gets a database file of its own. Either
    way, read it over HTTP."""
    directory = tmp_path / "jobq"
    directory.mkdir()
    if connection.vendor == "postgresql":
        settings = connection.settings_dict
        credentials = quote(settings["USER"] or "") + (
            ":" + quote(settings["PASSWORD"]) if settings["PASSWORD"] else ""
        )
        database_url = f"postgres://{credentials}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
        server = JobqServer(directory, database_url)
        server.apikey = make_key(make_project(53, "books"))
    else:
        server = JobqServer(directory, f"sqlite:///{directory / 'jobq.sqlite3'}")
        server.manage("migrate", "--no-input", "-v", "0")
        server.apikey = server.manage("create_api_key", "--project", "53").splitlines()[-1]
    server.start()
    yield server
    server.stop()


# --- Scrapyd ----------------------------------------------------------------------------


class Scrapyd(Process):
    """A real Scrapyd serving tests/integrations/scrapy_project as project
    "testbot" (a [settings] project: no egg to build), one crawl at a time."""

    def __init__(self, directory, env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (directory / "scrapyd.conf").write_text(
            "[scrapyd]\n"
            f"bind_address = 127.0.0.1\nhttp_port = {self.port}\n"
            "poll_interval = 0.2\nmax_proc = 1\n"
            "logs_dir = logs\neggs_dir = eggs\ndbs_dir = dbs\n"
            "[settings]\ntestbot = testbot.settings\n"
        )
        # Scrapyd reads scrapyd.conf in its working directory. It lists the
        # spiders and runs the crawls in processes that inherit its
        # environment, which names the project's settings (an egg would).
        env = {
            **env,
            "PYTHONPATH": str(SCRAPY_PROJECT),
            "SCRAPY_SETTINGS_MODULE": "testbot.settings",
            "JOBQ_SCRAPYD_URL": self.url,
        }
        super().__init__([sys.executable, "-m", "scrapyd"], env=env, cwd=directory)

        def answers():
            assert self.popen.poll() is None, self.output
            try:
                return requests.get(f"{self.url}/daemonstatus.json", timeout=5).ok
            except requests.ConnectionError:
                return False

        wait_until(answers, "Scrapyd to start")

    def schedule(self, spider, **args):
        answer = requests.post(
            f"{self.url}/schedule.json", data={"project": "testbot", "spider": spider, **args}, timeout=30
        ).json()
        assert answer["status"] == "ok", answer
        return answer["jobid"]

    def wait_finished(self, job_id):
        """Until Scrapyd has seen the crawl's process end (its log is complete)."""

        def finished():
            jobs = requests.get(f"{self.url}/listjobs.json", params={"project": "testbot"}, timeout=30).json()
            return any(job["id"] == job_id for job in jobs["finished"])

        wait_until(finished, f"Scrapyd's job {job_id} to finish")


@pytest.fixture
def scrapyd(crawl_env, tmp_path):
    directory = tmp_path / "scrapyd"
    directory.mkdir()
    server = Scrapyd(directory, crawl_env)
    yield server
    server.signal(signal.SIGTERM)
    try:
        server.wait(30)
    finally:
        server.end()


def copy_scrapy_project(destination):
    shutil.copytree(SCRAPY_PROJECT, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination

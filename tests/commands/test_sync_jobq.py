"""sync_jobq against a second, live jobq server started by the test.

The source is a real `manage.py runserver` process with its own SQLite
database, loaded with `import_jobs`; the copy runs in this process against
the test database. Nothing is mocked: the interruption kills the source
server half-way and starts it again on the same address.
"""

import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
import requests
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from requests.exceptions import ConnectionError as RequestsConnectionError
from scrapinghub.hubstorage import HubstorageClient

from jobs.jobmeta import METADATA_COLUMNS, export_line
from jobs.models import Job, JobCount, Spider, SyncCursor
from jobs.sync import LIST, SyncError, sync_project

ROOT = Path(__file__).resolve().parents[2]
BASE_TS = 1_700_000_000_000
CUSTOM_FIELDS = ["run_note", "batch", "origin"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SourceServer:
    """A second jobq: its own SQLite file and var dir, driven by manage.py."""

    def __init__(self, tmp_path, project_id, migrated, **env):
        self.dir = tmp_path
        self.project_id = project_id
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("SHUB_", "SH_")) and name != "DATABASE_URL"
        }
        self.env.update(
            DATABASE_URL=f"sqlite:///{tmp_path / 'source.sqlite3'}",
            JOBQ_VAR_DIR=str(tmp_path),
            DJANGO_SETTINGS_MODULE="jobqsite.settings",
            **env,
        )
        self.process = None
        shutil.copyfile(migrated, tmp_path / "source.sqlite3")
        self.apikey = self.manage("create_api_key", "--project", str(project_id)).splitlines()[-1]

    def manage(self, *args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def load(self, lines, name="jobs.jl"):
        path = self.dir / name
        path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        return self.manage("import_jobs", str(path), "-v", "0")

    def export(self):
        """The source's jobs as export_jobs writes them: key, ts and exactly
        the metadata its GET /jobs/<key> answers (both use metadata_of)."""
        path = self.dir / "export.jl"
        self.manage("export_jobs", "--project", str(self.project_id), "-o", str(path))
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]

    def start(self):
        with open(self.dir / "server.log", "ab") as log:
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
        # Wait until it answers (startup, not a timed assertion).
        for _ in range(300):
            assert self.process.poll() is None, (self.dir / "server.log").read_text()
            try:
                requests.get(f"{self.url}jobq/{self.project_id}/count", auth=(self.apikey, ""), timeout=5)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("the source server did not start")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def get(self, path, **params):
        response = requests.get(
            self.url + path.lstrip("/"), params=params, auth=(self.apikey, ""), timeout=30
        )
        response.raise_for_status()
        return response


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A migrated source database, copied by each source: migrate runs once."""
    directory = tmp_path_factory.mktemp("migrated-source")
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    env.update(
        DATABASE_URL=f"sqlite:///{directory / 'source.sqlite3'}",
        JOBQ_VAR_DIR=str(directory),
        DJANGO_SETTINGS_MODULE="jobqsite.settings",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return directory / "source.sqlite3"


@pytest.fixture
def source_factory(tmp_path, migrated):
    servers = []

    def make(project_id, name="source", **env):
        directory = tmp_path / name
        directory.mkdir()
        server = SourceServer(directory, project_id, migrated, **env)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def job(project_id, number, spider_number, state, ts, **extra):
    """A job line as import_jobs reads it, with varied metadata."""
    line = {
        "key": f"{project_id}/{spider_number}/{number}",
        "spider": f"spïder-{spider_number}",
        "state": state,
        "ts": ts,
        "pending_time": ts - 30,
        "priority": number % 5,
        "units": 1 + number % 3,
        "tags": [["daily"], ["daily", "ünïcode"], []][number % 3],
        "spider_args": {"page": number, "q": "café"},
        "version": f"v{number % 7}",
        "scheduled_by": "periodic",
    }
    if state in ("running", "finished", "deleted"):
        line["running_time"] = ts - 20
    if state in ("finished", "deleted"):
        line["finished_time"] = ts if state == "finished" else ts - 10
        line["close_reason"] = "finished"
        line["scrapystats"] = {"item_scraped_count": number % 101, "log_count/ERROR": number % 4}
    if state == "deleted":
        line["deleted_time"] = ts
    if number % 4 == 0:
        line["run_note"] = f"note {number}"
    if number % 6 == 0:
        line["batch"] = {"n": number, "parts": [1, 2, None]}
    if number % 9 == 0:
        line["origin"] = None
    line.update(extra)
    return line


def big_project(project_id=53, n=6_000):
    """n jobs in every state, 8 spiders; 1200 of them share one millisecond
    (a bulk import), more than a list page of 1000."""
    lines = []
    for number in range(1, n + 1):
        state = {0: "running", 1: "pending"}.get(number % 40, "deleted" if number % 97 == 5 else "finished")
        ts = BASE_TS + 15_000 if 1500 <= number < 2700 and state == "finished" else BASE_TS + number * 10
        lines.append(job(project_id, number, number % 8 + 1, state, ts))
    return lines


def local_export(project_id):
    names = dict(Spider.objects.filter(project_id=project_id).values_list("pk", "name"))
    rows = Job.objects.filter(project_id=project_id).order_by("-ts", "-id").values(*METADATA_COLUMNS)
    return [export_line(row, names[row["spider_id"]]) for row in rows]


def assert_same_jobs(local, source):
    """The same keys, each with the same ts and metadata, in the same
    newest-first order except among jobs of the same millisecond (ties are
    ordered by each server's own row ids)."""
    assert [line["ts"] for line in local] == [line["ts"] for line in source]
    assert len(local) == len({line["key"] for line in local})
    mine = {line["key"]: line for line in local}
    assert mine == {line["key"]: line for line in source}


def assert_counters_exact(project_id):
    """The per-state counters equal count(*): nothing counted twice."""
    counted = dict(JobCount.objects.filter(project_id=project_id).values_list("state").annotate(n=Sum("n")))
    actual = dict(Job.objects.filter(project_id=project_id).values_list("state").annotate(n=Count("id")))
    assert {s: n for s, n in counted.items() if n} == actual


def states_of(lines):
    found = {}
    for line in lines:
        found[line["state"]] = found.get(line["state"], 0) + 1
    return found


@pytest.mark.django_db(transaction=True)
def test_interrupted_then_resumed_then_incremental(source_factory):
    """6,000 jobs; the source dies half-way; the second run copies exactly
    the rest; after changes on the source the third run lists only the new
    and changed jobs."""
    source = source_factory(53)
    jobs = big_project()
    source.load(jobs)
    source.start()
    total = len(jobs)
    list_mode = ["--metadata", "list"] + [arg for name in CUSTOM_FIELDS for arg in ("--meta", name)]

    # Run 1: the source server is killed once half the jobs are here.
    def kill_half_way(summary):
        if summary.count("created") >= total // 2 and source.process is not None:
            source.stop()

    with pytest.raises((RequestsConnectionError, SyncError)):
        sync_project(
            source_url=source.url,
            apikey=source.apikey,
            project=53,
            metadata=LIST,
            meta_fields=CUSTOM_FIELDS,
            max_retries=1,
            max_retry_time=1,
            progress=kill_half_way,
        )
    copied_before = Job.objects.count()
    assert total // 2 <= copied_before < total
    interrupted = SyncCursor.objects.get(state="finished")
    assert interrupted.pass_top_key and interrupted.pass_low_ts  # a pass half done
    assert_counters_exact(53)

    # Run 2, against the same server started again: only the rest is copied.
    source.start()
    result = call_command(
        "sync_jobq",
        "--source",
        source.url,
        "--apikey",
        source.apikey,
        "--project",
        "53",
        *list_mode,
        verbosity=0,
    )
    assert f"{total - copied_before} copied, 0 updated" in result
    # Pending and running are listed whole again; the finished pass resumes
    # where it stopped (plus the millisecond it stopped in).
    expected = states_of(jobs)
    listed = int(result.split(" jobs listed")[0])
    assert listed < total - copied_before + expected["pending"] + expected["running"] + 1000
    source_jobs = source.export()
    assert len(source_jobs) == total
    assert_same_jobs(local_export(53), source_jobs)
    assert_counters_exact(53)
    cursor = SyncCursor.objects.get(state="finished")
    assert not cursor.pass_top_key
    assert (
        cursor.newest_key
        == max(
            (line for line in jobs if line["state"] == "finished"), key=lambda line: (line["ts"], line["key"])
        )["key"]
    )

    # Changes on the source: new jobs, running -> finished, finished ->
    # deleted (the newest finished job among them: the cursor's stop key
    # moves, and must not hide what finished before it was deleted).
    newest_finished = source.get("jobq/53/list", state="finished", count=1).json()
    new_finished = [
        job(53, number, 3, "finished", BASE_TS + 300_000 + number) for number in range(20_001, 20_301)
    ]
    new_pending = [
        job(53, number, 4, "pending", BASE_TS + 600_000 + number) for number in range(20_301, 20_306)
    ]
    running = [line for line in jobs if line["state"] == "running"][:100]
    now_finished = [
        {
            **line,
            "state": "finished",
            "ts": BASE_TS + 400_000 + i,
            "finished_time": BASE_TS + 400_000 + i,
            "close_reason": "finished",
            "scrapystats": {"item_scraped_count": i},
        }
        for i, line in enumerate(running)
    ]
    finished = [line for line in jobs if line["state"] == "finished"]
    to_delete = [line for line in finished if line["key"] == newest_finished["key"]] + finished[:19]
    now_deleted = [
        {**line, "state": "deleted", "ts": BASE_TS + 500_000 + i, "deleted_time": BASE_TS + 500_000 + i}
        for i, line in enumerate(to_delete)
    ]
    source.load(new_finished + new_pending + now_finished + now_deleted, name="changes.jl")
    deleted_before = SyncCursor.objects.get(state="deleted").newest_key

    result = call_command(
        "sync_jobq",
        "--source",
        source.url,
        "--apikey",
        source.apikey,
        "--project",
        "53",
        *list_mode,
        verbosity=0,
    )
    pending, running_left = expected["pending"] + 5, expected["running"] - 100
    assert result == (
        f"{pending + running_left + 400 + 20} jobs listed, 100 metadata fetched: "
        f"305 copied, 120 updated, {pending - 5 + running_left + 100} unchanged ("
        f"pending: {pending} listed, 5 copied, 0 updated, {pending - 5} unchanged; "
        f"running: {running_left} listed, 100 fetched, 0 copied, 100 updated, {running_left} unchanged; "
        f"finished: 400 listed, 300 copied, 0 updated, 100 unchanged; "
        f"deleted: 20 listed, 0 copied, 20 updated, 0 unchanged)."
    )
    assert_same_jobs(local_export(53), source.export())
    assert Job.objects.count() == total + 305
    # The deleted jobs were asked for with stop=<the newest deleted key copied>;
    # the finished ones from the cursor's ts, as its stop key had moved.
    asked = [
        line for line in (source.dir / "server.log").read_text().splitlines() if "/jobq/53/list?" in line
    ]
    stop = "stop=" + quote(deleted_before, safe="")
    assert any("state=deleted" in line and stop in line for line in asked[-10:])
    assert any(
        "state=finished" in line and "startts=" in line and "stop=" not in line for line in asked[-10:]
    )
    assert_counters_exact(53)


@pytest.mark.django_db(transaction=True)
def test_full_metadata_into_another_project(source_factory):
    """The default mode copies each job's GET /jobs/<key> exactly, custom
    fields included without naming them; --into maps 70/x/y to 71/x/y."""
    source = source_factory(70)
    jobs = [
        job(
            70,
            number,
            number % 3 + 1,
            "finished" if number % 10 else "running",
            BASE_TS + number * 10,
            **{f"extra_{number % 7}": {"deep": [number, "ß"]}},
        )
        for number in range(1, 401)
    ]
    source.load(jobs)
    source.start()
    args = [
        "--source",
        source.url,
        "--apikey",
        source.apikey,
        "--project",
        "70",
        "--into",
        "71",
        "--workers",
        "8",
    ]

    # Half-way the source goes away and comes back a moment later: the
    # requests that failed meanwhile are retried with the client's policy
    # (connection errors, like 408/429/502/503/504), and the run completes.
    restarts = []

    def restart_half_way(summary):
        if summary.count("created") >= 200 and not restarts:
            source.stop()
            restarts.append(threading.Thread(target=source.start))
            restarts[0].start()

    summary = sync_project(
        source_url=source.url, apikey=source.apikey, project=70, into=71, workers=8, progress=restart_half_way
    )
    restarts[0].join()
    assert str(summary).startswith(
        "400 jobs listed, 400 metadata fetched: 400 copied, 0 updated, 0 unchanged"
    )
    # Every job here answers what the source's GET /jobs/<key> answers, with
    # only the project changed; ts is kept.
    names = dict(Spider.objects.filter(project_id=71).values_list("pk", "name"))
    local = {row["key"]: row for row in Job.objects.filter(project_id=71).values(*METADATA_COLUMNS)}
    for line in source.export():
        key = "71/" + line["key"].split("/", 1)[1]
        mine = export_line(local[key], names[local[key]["spider_id"]])
        assert mine == {**line, "key": key, "project": 71}
    for number in (1, 7, 10, 200, 400):
        remote = orjson.loads(source.get(f"jobs/70/{number % 3 + 1}/{number}").content)
        row = local[f"71/{number % 3 + 1}/{number}"]
        assert export_line(row, names[row["spider_id"]]) == {
            **remote,
            "project": 71,
            "key": f"71/{number % 3 + 1}/{number}",
            "ts": jobs[number - 1]["ts"],
        }
    assert sorted(Spider.objects.filter(project_id=71).values_list("number", "name")) == [
        (1, "spïder-1"),
        (2, "spïder-2"),
        (3, "spïder-3"),
    ]
    assert_counters_exact(71)

    # Nothing new: only pending and running are listed (and fetched) again.
    progress = io.StringIO()
    result = call_command("sync_jobq", *args, stderr=progress)
    assert result.startswith("40 jobs listed, 40 metadata fetched: 0 copied, 0 updated, 40 unchanged")
    assert "\r40 listed, 40 fetched, 0 copied, 0 updated…" in progress.getvalue()

    # --reset walks everything again: nothing changes. In list mode the
    # custom fields not named (extra_*) are kept as the full copy left them.
    result = call_command(
        "sync_jobq", *args, "--reset", "--state", "finished", "--metadata", "list", verbosity=0
    )
    assert result.startswith("360 jobs listed, 0 metadata fetched: 0 copied, 0 updated, 360 unchanged")
    assert_same_jobs(
        local_export(71),
        [{**line, "key": "71/" + line["key"].split("/", 1)[1], "project": 71} for line in source.export()],
    )

    # What the source refuses is said plainly.
    with pytest.raises(CommandError, match="401 Unauthorized"):
        call_command("sync_jobq", *args[:3], "0" * 32, *args[4:], verbosity=0)
    with pytest.raises(CommandError, match="404 Project 72 not found"):
        call_command("sync_jobq", *args[:5], "72", verbosity=0)
    with pytest.raises(CommandError, match="must not carry credentials"):
        call_command("sync_jobq", "--source", source.url + "?apikey=" + source.apikey, *args[2:], verbosity=0)
    assert not any(source.apikey in str(value) for value in SyncCursor.objects.values_list())


@pytest.mark.django_db(transaction=True)
def test_throttled_requests_are_retried(source_factory):
    """A source that answers 429 (at most 8 requests every 2 s here) slows
    the copy down but loses nothing: the client waits and asks again."""
    source = source_factory(80, JOBQ_RATE_LIMIT="8/2")
    jobs = [job(80, number, 1, "finished", BASE_TS + number * 10) for number in range(1, 151)]
    source.load(jobs)
    source.start()

    summary = sync_project(
        source_url=source.url,
        apikey=source.apikey,
        project=80,
        states=["finished"],
        metadata=LIST,
        meta_fields=CUSTOM_FIELDS,
        page_size=10,
    )
    assert str(summary) == (
        "150 jobs listed, 0 metadata fetched: 150 copied, 0 updated, 0 unchanged "
        "(finished: 150 listed, 150 copied, 0 updated, 0 unchanged)."
    )
    assert_same_jobs(local_export(80), source.export())
    throttled = [line for line in (source.dir / "server.log").read_text().splitlines() if '" 429 ' in line]
    assert throttled  # it was throttled, and retried each time


@pytest.mark.django_db(transaction=True)
def test_source_changing_during_the_walk(source_factory):
    """Between every two pages the source changes under the walk: jobs are
    pushed, started, finished with metadata, and finished jobs not reached
    yet are deleted (which would shift `start=` offsets and skip jobs). The
    next run brings everything that changed, and nothing is missing."""
    source = source_factory(90)
    jobs = [
        job(90, number, number % 4 + 1, "finished" if number % 20 else "pending", BASE_TS + number * 10)
        for number in range(1, 1201)
    ]
    source.load(jobs)
    source.start()
    hub = HubstorageClient(source.apikey, endpoint=source.url, jobq_endpoint=source.url, use_msgpack=False)
    jobq = hub.get_project(90).jobq

    def churn(summary):
        for _ in range(2):
            jobq.push("spïder-1", tags=["late"], note={"pushed": True})
        started = jobq.start()
        jobq.finish(started["key"], close_reason="finished", scrapystats={"item_scraped_count": 3})
        jobq.start()  # left running
        oldest = source.get("jobq/90/list", state="finished", count=3, start=800).content.splitlines()
        jobq.delete([orjson.loads(line)["key"] for line in oldest])

    try:
        first = sync_project(
            source_url=source.url,
            apikey=source.apikey,
            project=90,
            metadata=LIST,
            meta_fields=[*CUSTOM_FIELDS, "note"],
            page_size=100,
            progress=churn,
        )
        second = sync_project(
            source_url=source.url,
            apikey=source.apikey,
            project=90,
            metadata=LIST,
            meta_fields=[*CUSTOM_FIELDS, "note"],
            page_size=100,
        )
    finally:
        hub.close()
    assert first.count("created") > 1150
    assert second.listed < first.listed // 4  # only what changed, plus pending and running
    assert_same_jobs(local_export(90), source.export())
    assert_counters_exact(90)


@pytest.mark.django_db(transaction=True)
def test_times_out_of_range_on_the_source_are_refused_job_by_job(source_factory):
    """A source holding a time jobq cannot store (microseconds by mistake,
    written before the source checked) costs that job, named, not the run."""
    import sqlite3

    source = source_factory(72)
    source.load([job(72, number, 1, "finished", BASE_TS + number * 10) for number in range(1, 5)])
    with sqlite3.connect(source.dir / "source.sqlite3") as db:
        db.execute(
            "UPDATE jobs_job SET finished_time = 1700000000000000, ts = 1700000000000000 WHERE key = '72/1/2'"
        )
        db.execute("UPDATE jobs_job SET pending_time = -5 WHERE key = '72/1/3'")
    source.start()
    summary = sync_project(source_url=source.url, apikey=source.apikey, project=72)
    refused = summary.of("finished").refused
    assert len(refused) == 2
    assert refused[0].startswith("72/1/2 (finished_time must be a time in milliseconds since 1970")
    assert refused[1].startswith("72/1/3 (pending_time must be a time in milliseconds since 1970")
    assert sorted(Job.objects.values_list("key", flat=True)) == ["72/1/1", "72/1/4"]
    assert "2 not storable here: 72/1/2" in str(summary)
    assert_counters_exact(72)

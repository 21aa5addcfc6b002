"""The Scrapy extension (scrapy_jobq.JobqExtension), with real `scrapy crawl`
processes of tests/integrations/scrapy_project against a live jobq, as a
cron job would run them: each crawl pushes its own job."""

import json
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from scrapy_jobq.client import JobQ
from scrapy_jobq.reporter import Reporter
from scrapy_jobq.stats import figures as stats_figures
from scrapy_jobq.stats import jsonable

from .conftest import (
    ROOT,
    SCRAPY_PROJECT,
    WAIT,
    Process,
    copy_scrapy_project,
    figures,
    free_port,
    job_of,
    printed_stats,
    push,
    read_items,
    wait_until,
)

HOST = socket.gethostname()


def jobs_in(shub, state):
    return shub.get_project(53).jobs.list(state=state)


def the_job(shub):
    """The key of the one job the crawl pushed (any state)."""
    jobs = shub.get_project(53).jobs.list(state=["running", "finished"])
    assert len(jobs) == 1, jobs
    return jobs[0]["key"]


def assert_finished_as_printed(meta, crawl, *, items, pages, errors, close_reason="finished"):
    """The job holds what Scrapy printed: the stats, and the figures from them."""
    assert meta["state"] == "finished"
    assert meta["close_reason"] == close_reason
    assert meta["scrapystats"] == crawl.printed_stats
    assert (meta["items"], meta["pages"], meta["errors"]) == (items, pages, errors)
    assert len(crawl.items) == items
    # Pushed as running when the crawl started, finished when it closed.
    assert meta["pending_time"] == meta["running_time"] <= meta["finished_time"]
    assert meta["scrapystats"]["start_time"] <= meta["running_time"]
    assert meta["finished_time"] >= meta["scrapystats"]["finish_time"]
    assert meta["started_by"] == meta["completed_by"] == HOST


def test_a_crawl_is_a_job_whose_stats_grow_until_it_finishes(crawler, crawl_env, site, shub):
    crawl = crawler(
        "books",
        pages=12,
        per=2,
        hold="6,9",
        env={**crawl_env, "JOBQ_TAGS": "nightly, ünïcode", "JOBQ_VERSION": "v1.2"},
    )

    # Held at page 6: five pages and ten items in, the job is running and says so.
    wait_until(lambda: 6 in site.waiting, "the crawl to reach page 6")
    key = wait_until(lambda: [job["key"] for job in jobs_in(shub, "running")], "the job to run")[0]
    wait_until(lambda: figures(shub, key) == (10, 5), "jobq to show 10 items from 5 pages")
    running = job_of(shub, key)
    assert running["state"] == "running"
    assert running["scrapystats"]["item_scraped_count"] == 10

    # Held at page 9, the figures have grown.
    site.release(6)
    wait_until(lambda: 9 in site.waiting, "the crawl to reach page 9")
    wait_until(lambda: figures(shub, key) == (16, 8), "jobq to show 16 items from 8 pages")
    assert job_of(shub, key)["state"] == "running"

    site.release(9)
    crawl.finish()
    meta = job_of(shub, key)
    assert_finished_as_printed(meta, crawl, items=24, pages=12, errors=0)
    assert meta["spider"] == "books"
    assert meta["spider_args"] == {"pages": "12", "per": "2", "hold": "6,9"}
    # The environment's JOBQ_TAGS and JOBQ_VERSION win over settings.py.
    assert meta["tags"] == ["nightly", "ünïcode"]
    assert meta["version"] == "v1.2"
    assert f"this crawl is job {key} at " in crawl.output
    assert "WARNING" not in crawl.output


def test_errors_the_spider_logs_are_the_jobs_errors(crawler, shub):
    crawl = crawler("errors", pages=2, per=4, errors=3).finish()
    meta = job_of(shub, the_job(shub))
    assert_finished_as_printed(meta, crawl, items=5, pages=2, errors=3)
    assert meta["scrapystats"]["log_count/ERROR"] == 3
    assert crawl.output.count("No price for") == 3
    # settings.py's JOBQ_TAGS, when neither the environment nor -s sets it.
    assert meta["tags"] == ["cron"]


def test_a_callback_that_raises_is_an_error_and_the_crawl_still_finishes(crawler, crawl_env, shub):
    crawl = crawler(
        "raises",
        pages=3,
        per=4,
        settings={"JOBQ_TAGS": "from-the-command-line"},
        env={**crawl_env, "JOBQ_TAGS": "env"},
    ).finish()
    meta = job_of(shub, the_job(shub))
    # Page 1's items; page 2 raised, so page 3 was never asked for.
    assert_finished_as_printed(meta, crawl, items=4, pages=2, errors=1)
    assert meta["scrapystats"]["spider_exceptions/ValueError"] == 1
    assert "the layout of page 2 changed" in crawl.output
    # -s beats the environment.
    assert meta["tags"] == ["from-the-command-line"]


def test_the_version_is_the_projects_git_revision(crawler, tmp_path, shub):
    project = copy_scrapy_project(tmp_path / "bot")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(project)]
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "the bot"]):
        subprocess.run([*git, *command], check=True)
    revision = subprocess.run(
        [*git, "describe", "--always", "--dirty"], check=True, capture_output=True, text=True
    )

    crawler("books", pages=1, per=1, cwd=project).finish()
    assert job_of(shub, the_job(shub))["version"] == revision.stdout.strip()


def test_under_scrapyd_the_job_links_to_scrapyds_job_and_log(scrapyd, shub):
    job_id = scrapyd.schedule("books", pages="1", per="2")
    scrapyd.wait_finished(job_id)
    key = the_job(shub)

    meta = job_of(shub, key)
    assert (meta["close_reason"], meta["items"]) == ("finished", 2)
    assert meta["scrapyd_job"] == job_id
    assert meta["scrapyd_project"] == "testbot"
    # Scrapyd's own argument `_job` is not one of the spider's.
    assert meta["spider_args"] == {"pages": "1", "per": "2"}
    # The link opens the crawl's log on Scrapyd, whose stats are the job's.
    assert meta["scrapyd_log_url"] == f"{scrapyd.url}/logs/testbot/books/{job_id}.log"
    log = requests.get(meta["scrapyd_log_url"], timeout=30)
    assert log.ok
    assert "jobq: reporting this crawl to project 53 at " in log.text
    assert printed_stats(log.text) == meta["scrapystats"]


def test_under_an_older_scrapyd_its_variables_and_the_egg_version_are_used(
    crawler, crawl_env, tmp_path, shub
):
    """A crawl started the way Scrapyd 1.4 started one (its variables; the job
    id also as the argument `_job`) for a job scheduled with `_version`. The
    project is not in git: the version is the egg's."""
    project = copy_scrapy_project(tmp_path / "bot")
    scrapyd = {
        "SCRAPY_PROJECT": "testbot",
        "SCRAPY_SETTINGS_MODULE": "testbot.settings",  # what Scrapyd's runner finds in the egg
        "SCRAPYD_SLOT": "0",
        "SCRAPYD_SPIDER": "books",
        "SCRAPYD_JOB": "6487ec79947edab326d6db28a2d86511",
        "SCRAPYD_EGG_VERSION": "r42",
        "SCRAPYD_LOG_FILE": str(tmp_path / "logs/testbot/books/6487ec79947edab326d6db28a2d86511.log"),
        "JOBQ_SCRAPYD_URL": "http://scrapyd.internal:6800/",
    }
    crawler(
        "books",
        pages=1,
        per=2,
        _job="6487ec79947edab326d6db28a2d86511",
        cwd=project,
        env={**crawl_env, **scrapyd},
    ).finish()
    meta = job_of(shub, the_job(shub))
    assert meta["scrapyd_job"] == "6487ec79947edab326d6db28a2d86511"
    assert meta["scrapyd_project"] == "testbot"
    assert (
        meta["scrapyd_log_url"]
        == "http://scrapyd.internal:6800/logs/testbot/books/6487ec79947edab326d6db28a2d86511.log"
    )
    assert meta["spider_args"] == {"pages": "1", "per": "2"}
    assert meta["version"] == "r42"


@pytest.mark.parametrize(
    ("settings", "warning"),
    [
        (
            {"JOBQ_URL": "http://127.0.0.1:{port}", "JOBQ_CLOSE_TIMEOUT": "1"},
            "jobq: gave up reporting this crawl to http://127.0.0.1:{port}: jobq was still unreachable "
            "when the close timeout ran out",
        ),
        (
            {"JOBQ_APIKEY": "0123456789abcdef0123456789abcdef"},
            "jobq: gave up reporting this crawl to {url}: jobq refused it (HTTP 401: Unauthorized)",
        ),
        ({"JOBQ_URL": ""}, "Disabled scrapy_jobq.JobqExtension: JOBQ_URL is not set"),
    ],
    ids=["unreachable", "wrong-key", "not-configured"],
)
def test_without_jobq_the_crawl_goes_on_with_one_warning(crawler, crawl_env, shub, jobq, settings, warning):
    port = free_port()
    env = {**crawl_env, **{name: value.format(port=port) for name, value in settings.items()}}
    crawl = crawler("books", pages=2, per=3, env=env).finish()
    assert len(crawl.items) == 6
    warnings = [line for line in crawl.output.splitlines() if " WARNING: " in line]
    assert len(warnings) == 1, crawl.output
    assert warning.format(port=port, url=jobq.url) in warnings[0]
    assert crawl.printed_stats["item_scraped_count"] == 6
    assert shub.get_project(53).jobs.count(state=["pending", "running", "finished"]) == 0


def test_jobq_stopped_during_the_crawl_hears_of_it_when_back(crawler, crawl_env, site, jobq_process):
    """jobq goes away with the crawl half done; the crawl finishes all the
    same and waits at close, retrying; jobq comes back and the job is
    finished, with the time the crawl really closed."""
    server = jobq_process
    env = {**crawl_env, "JOBQ_URL": server.url, "JOBQ_APIKEY": server.apikey, "JOBQ_CLOSE_TIMEOUT": str(WAIT)}
    crawl = crawler("books", pages=6, per=2, hold="3", env=env)
    api = requests.Session()
    api.auth = (server.apikey, "")

    def job():
        return api.get(f"{server.url}/jobs/{key}", timeout=10).json()

    def running_items():
        lines = api.get(f"{server.url}/jobq/53/list?state=running", timeout=10).text.splitlines()
        return lines and json.loads(lines[0]).get("items")

    wait_until(lambda: 3 in site.waiting, "the crawl to reach page 3")
    wait_until(lambda: running_items() == 4, "jobq to show 4 items")
    key = json.loads(api.get(f"{server.url}/jobq/53/list?state=running", timeout=10).text)["key"]
    api.close()

    server.stop()
    site.release(3)
    wait_until(lambda: "Closing spider (finished)" in crawl.output, "the crawl to close")
    # The crawl has closed; it waits for jobq (still retrying) and has not exited.
    time.sleep(1)
    assert crawl.popen.poll() is None
    back_at = time.time_ns() // 1_000_000
    server.start()
    crawl.finish()

    meta = job()
    assert meta["state"] == "finished"
    assert meta["close_reason"] == "finished"
    assert meta["items"] == len(crawl.items) == 12
    assert meta["pages"] == 6
    assert meta["scrapystats"] == printed_stats(crawl.output)
    assert meta["finished_time"] < back_at  # when the crawl closed, not when jobq heard
    assert "WARNING" not in crawl.output


# --- the parts, in this process, against the same live jobq ---------------------------


def test_a_push_sent_again_after_a_lost_answer_finds_the_job_it_made(jobq, apikey, shub):
    """The first push reached jobq but its answer was lost (a timeout after
    the commit): the job exists, running, with the crawl's unique id. The
    second attempt must report on that job, not make another."""
    first = push(shub, "books", state="running", unique="crawl-4f2a")
    reporter = Reporter(
        JobQ(jobq.url, apikey, 53), push={"spider": "books", "state": "running", "unique": "crawl-4f2a"}
    )
    reporter.start()
    reporter.finish({"state": "finished", "close_reason": "finished"}, timeout=WAIT)
    assert reporter.wait(WAIT)

    assert (reporter.key, reporter.gave_up) == (first, False)
    jobs = shub.get_project(53).jobs.list(state=["pending", "running", "finished"])
    assert [(job["key"], job["state"], job["close_reason"]) for job in jobs] == [
        (first, "finished", "finished")
    ]


def test_stats_become_json_that_jobq_keeps_unchanged():
    stats = {
        "start_time": datetime(2026, 1, 2, 3, 4, 5, 678_999, tzinfo=UTC),
        "naive_time": datetime(2026, 1, 2, 3, 4, 5, 678_000),  # older Scrapy: naive UTC
        "elapsed_time_seconds": 1.5,
        "responses_per_minute": None,
        "not_a_number": float("nan"),
        "too_big": 2**64,
        "nul": "a\x00b",
        "nested": {"set": {3}, "delta": timedelta(seconds=90)},
        "item_scraped_count": 12,
        "log_count/ERROR": True,  # not a count: errors stay 0
    }
    converted = jsonable(stats)
    assert converted == {
        "start_time": 1767323045678,
        "naive_time": 1767323045678,
        "elapsed_time_seconds": 1.5,
        "responses_per_minute": None,
        "not_a_number": None,
        "too_big": "18446744073709551616",
        "nul": "ab",
        "nested": {"set": [3], "delta": 90.0},
        "item_scraped_count": 12,
        "log_count/ERROR": True,
    }
    assert stats_figures(converted) == {"items": 12, "pages": 0, "errors": 0}


def test_one_pip_install_of_the_folder_works_without_django(crawl_env, shub, tmp_path):
    """A crawl machine has Scrapy, not jobq: a fresh virtualenv gets the
    folder and its declared dependencies from one `pip install`, has no
    Django, and its crawls report to jobq."""
    source = tmp_path / "scrapy-jobq"
    # A copy: building the wheel writes build/ and egg-info next to the sources.
    shutil.copytree(
        ROOT / "integrations" / "scrapy",
        source,
        ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # This environment's pip installs into the new one (faster than bootstrapping its own).
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-compile", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    def run(code):
        return subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=crawl_env)

    assert "No module named 'django'" in run("import django").stderr
    imported = run(
        "import scrapy, scrapy_jobq, scrapy_jobq.worker; print(scrapy_jobq.JobqExtension.__name__)"
    )
    assert imported.returncode == 0 and imported.stdout.strip() == "JobqExtension", imported.stderr
    worker_help = subprocess.run(
        [str(venv / "bin" / "jobq-worker"), "--help"], capture_output=True, text=True
    )
    assert worker_help.returncode == 0 and "--scrapy-project DIR" in worker_help.stdout

    items = tmp_path / "items.jl"
    crawl = Process(
        [str(python), "-m", "scrapy", "crawl", "books", "-a", "pages=2", "-a", "per=3"],
        env={**crawl_env, "TESTBOT_ITEMS": str(items)},
        cwd=SCRAPY_PROJECT,
    )
    assert crawl.wait() == 0, crawl.output
    assert len(read_items(items)) == 6
    [job] = shub.get_project(53).jobs.list(state="finished")
    meta = job_of(shub, job["key"])
    assert (meta["close_reason"], meta["items"], meta["pages"]) == ("finished", 6, 2)
    assert meta["scrapystats"] == printed_stats(crawl.output)

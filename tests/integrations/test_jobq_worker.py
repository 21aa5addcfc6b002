"""jobq-worker (scrapy_jobq.worker): real worker processes take jobs pushed
through the API and run real crawls of tests/integrations/scrapy_project."""

import os
import re
import signal
import socket
import subprocess

from .conftest import (
    SCRAPY_PROJECT,
    clean_environ,
    figures,
    job_of,
    printed_stats,
    push,
    wait_for_state,
    wait_until,
)

HOST = socket.gethostname()


def started_keys(worker):
    return re.findall(r"job (\S+): crawling ", worker.output)


def crawl_exited(worker, key):
    """The crawl's log is complete once the worker has seen it exit."""
    return wait_until(lambda: f"job {key}: the crawl exited" in worker.output, f"the crawl of {key} to exit")


def test_a_pushed_job_runs_with_live_stats_and_finishes(shub, site, worker):
    key = push(shub, "books", spider_args={"pages": "8", "per": "2", "hold": "4"}, tags=["nightly"])
    pushed = job_of(shub, key)
    assert pushed["state"] == "pending"
    run = worker()

    # Held at page 4: running, with the stats of three pages.
    wait_until(lambda: 4 in site.waiting, "the crawl to reach page 4")
    wait_until(lambda: figures(shub, key) == (6, 3), "jobq to show 6 items from 3 pages")
    running = job_of(shub, key)
    assert running["state"] == "running"
    assert running["started_by"] == HOST
    assert running["worker"] == f"{HOST}:{run.popen.pid}"

    site.release(4)
    meta = wait_for_state(shub, key, "finished")
    crawl_exited(run, key)
    log = run.crawl_log(key)
    assert meta["close_reason"] == "finished"
    assert (meta["items"], meta["pages"], meta["errors"]) == (16, 8, 0)
    assert meta["scrapystats"] == printed_stats(log)
    assert meta["pending_time"] == pushed["pending_time"] < meta["running_time"] <= meta["finished_time"]
    # What was pushed stays: the crawl reports on the job, it does not retag it.
    assert meta["tags"] == ["nightly"]
    assert meta["spider_args"] == {"pages": "8", "per": "2", "hold": "4"}
    revision = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=SCRAPY_PROJECT, capture_output=True, text=True
    )
    assert meta["version"] == revision.stdout.strip()
    assert f"jobq: reporting on job {key} at " in log
    run.stop()


def test_code_written_for_scrapy_cloud_reaches_jobq(shub, worker):
    key = push(shub, "cloud", tags=["from-the-queue"])
    assert worker("--exit-when-empty").wait() == 0
    meta = job_of(shub, key)
    assert meta["close_reason"] == "finished"
    assert meta["seen_from_the_spider"] == {
        "tags": ["from-the-queue"],
        "running": 1,
        "job_data_spider": "cloud",
    }


def test_a_job_cancelled_while_running_ends_cancelled(shub, worker):
    key = push(shub, "endless")
    run = worker()
    wait_until(lambda: (figures(shub, key)[0] or 0) >= 3, "the crawl to scrape 3 items")

    shub.get_job(key).cancel()
    meta = wait_for_state(shub, key, "finished")
    assert meta["close_reason"] == "cancelled"
    assert meta["cancelled_by"]
    # Scrapy stopped gracefully (its reason: shutdown) and finished the job itself.
    assert meta["scrapystats"]["finish_reason"] == "shutdown"
    assert meta["items"] >= 3
    assert "exit_code" not in meta
    crawl_exited(run, key)
    assert "killing it" not in run.output
    run.stop()


def test_a_cancelled_crawl_that_does_not_stop_is_killed_after_the_grace_period(shub, site, worker):
    key = push(shub, "hangs", spider_args={"seconds": "120"})
    run = worker("--grace-period", "1")
    wait_until(lambda: site.pages_served("/sleep"), "the crawl to wait on its page")
    assert job_of(shub, key)["state"] == "running"

    shub.get_job(key).cancel()
    meta = wait_for_state(shub, key, "finished")
    assert meta["close_reason"] == "cancelled"
    assert (meta["exit_code"], meta["exit_signal"]) == (-signal.SIGKILL, "SIGKILL")
    assert f"job {key}: still running 1 s after SIGTERM; killing it" in run.output
    run.stop()


def test_a_crawl_killed_with_sigkill_ends_failed(shub, worker, tmp_path):
    pidfile = tmp_path / "crawl.pid"
    key = push(shub, "endless", spider_args={"pidfile": str(pidfile)})
    run = worker()
    wait_until(lambda: (figures(shub, key)[0] or 0) >= 2, "the crawl to scrape 2 items")

    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    meta = wait_for_state(shub, key, "finished")
    assert meta["close_reason"] == "failed"
    assert (meta["exit_code"], meta["exit_signal"]) == (-signal.SIGKILL, "SIGKILL")
    assert meta["completed_by"] == HOST
    # The last live stats stay: the job shows how far the crawl got.
    assert meta["scrapystats"]["item_scraped_count"] >= 2
    run.stop()


def test_a_crawl_that_cannot_start_ends_failed(shub, worker):
    key = push(shub, "no-such-spider")
    run = worker("--exit-when-empty")
    assert run.wait() == 0
    meta = job_of(shub, key)
    assert (meta["state"], meta["close_reason"], meta["exit_code"]) == ("finished", "failed", 1)
    assert "exit_signal" not in meta
    assert "Spider not found: no-such-spider" in run.crawl_log(key)


def test_two_workers_on_one_queue_run_each_job_once(shub, site, worker, crawl_env):
    # Enough jobs that both workers, two slots each, race for the queue many
    # times over; each crawl is a Scrapy process, so not many more.
    keys = [push(shub, "books", spider_args={"pages": "1", "per": "1", "n": str(n)}) for n in range(16)]
    # Fast crawls need no live stats; a worker takes the next job as soon as a
    # crawl ends, whatever its poll interval. Less chatter for a 2-core machine.
    quiet = {**crawl_env, "JOBQ_STATS_INTERVAL": "0"}
    args = ("--slots", "2", "--exit-when-empty", "--poll-interval", "1")
    first, second = worker(*args, env=quiet), worker(*args, env=quiet)
    assert first.wait(timeout=600) == 0, first.output
    assert second.wait(timeout=600) == 0, second.output

    by_first, by_second = started_keys(first), started_keys(second)
    assert sorted(by_first + by_second) == sorted(keys)  # each job started once, by one worker
    assert site.pages_served("/books") == 16  # and each crawl ran once
    jobs = shub.get_project(53).jobs.list(
        state=["pending", "running", "finished"], meta=["close_reason", "worker"]
    )
    assert len(jobs) == 16
    assert {job["close_reason"] for job in jobs} == {"finished"}
    workers = {f"{HOST}:{first.popen.pid}": set(by_first), f"{HOST}:{second.popen.pid}": set(by_second)}
    for job in jobs:
        assert job["key"] in workers[job["worker"]]
    assert figures(shub, keys[0]) == (1, 1)


def test_sigterm_stops_the_worker_and_its_crawls_gracefully(shub, worker):
    running_key = push(shub, "endless")
    run = worker()
    wait_until(lambda: (figures(shub, running_key)[0] or 0) >= 2, "the crawl to scrape 2 items")
    waiting_key = push(shub, "books")  # its one slot is busy: this one waits

    run.stop()
    meta = job_of(shub, running_key)
    assert (meta["state"], meta["close_reason"]) == ("finished", "shutdown")
    assert job_of(shub, waiting_key)["state"] == "pending"
    assert started_keys(run) == [running_key]


def test_the_worker_refuses_to_start_without_access(worker, jobq, apikey, other_project):
    for args, env, message in [
        ((), clean_environ(JOBQ_URL=jobq.url, JOBQ_APIKEY="0" * 32), "refused the API key"),
        (("--project", "54"), clean_environ(JOBQ_URL=jobq.url, JOBQ_APIKEY=apikey), "has no project 54"),
    ]:
        run = worker(*args, env=env)
        assert run.wait() == 1
        assert message in run.output

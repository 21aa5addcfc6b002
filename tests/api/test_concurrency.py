"""Concurrent writers against a live jobq, from separate processes over HTTP.

PostgreSQL only: that is where writers really overlap (row locks, SKIP
LOCKED). The live server on SQLite shares one in-memory connection between
its threads, and SQLite's IMMEDIATE transactions would serialise writers anyway.
"""

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from django.db import connection

from jobs.models import Job, Spider

from ..counting import assert_counts_exact
from ..factories import add_jobs, job_line

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locking"),
]

WORKER = Path(__file__).resolve().parent.parent / "http_worker.py"
WORKERS = 4


def run_workers(live, apikey, *args, workers=WORKERS, others=()):
    """Start the workers (and, alongside, workers running each of `others`,
    a tuple of arguments), let them all go at once, return each one's answers."""
    commands = [args] * workers + list(others)
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), live.url, apikey, *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        results.append([json.loads(line) for line in out.splitlines() if line])
    return results


def test_each_pending_job_is_started_exactly_once(live, project, apikey):
    lines = [
        job_line(
            spider=f"s{i % 3}",
            spider_number=i % 3 + 1,
            number=i + 1,
            state="pending",
            ts=1_700_000_000_000 + i,
        )
        for i in range(80)
    ]
    keys = add_jobs(*lines)
    add_jobs(job_line(spider="s0", spider_number=1, number=500, state="running"))

    started = [job["key"] for answers in run_workers(live, apikey, "start") for job in answers]

    assert len(started) == len(set(started))  # nobody got a job twice
    assert sorted(started) == sorted(keys)  # and every pending job was started
    assert set(Job.objects.values_list("state", flat=True)) == {"running"}
    assert Job.objects.filter(running_time__isnull=True).count() == 0
    assert_counts_exact()


def test_concurrent_pushes_never_repeat_a_job_number(live, project, apikey):
    answers = run_workers(live, apikey, "post", "/jobq/53/push", "25", '{"spider": "books"}')
    # A spider that none of them has seen yet: created once, by whoever is first.
    answers += run_workers(
        live, apikey, "post", "/jobq/53/push", "5", '{"spider": "fresh", "tags": ["a", "b"]}'
    )

    keys = [answer["key"] for worker in answers for answer in worker]
    assert len(keys) == len(set(keys)) == WORKERS * 30
    books = Spider.objects.get(project=project, name="books")
    assert sorted(Job.objects.filter(spider=books).values_list("number", flat=True)) == list(range(1, 101))
    assert Spider.objects.filter(project=project).count() == 2
    assert Spider.objects.get(name="fresh").last_job_number == WORKERS * 5
    assert_counts_exact()


def test_concurrent_unique_pushes_create_one_job(live, project, apikey):
    line = orjson.dumps({"spider": "books", "unique": "once"}).decode()
    answers = [
        answer
        for worker in run_workers(live, apikey, "post", "/jobq/53/push", "3", line)
        for answer in worker
    ]

    created = [answer for answer in answers if "key" in answer]
    refused = [answer for answer in answers if "error" in answer]
    assert len(created) == 1 and len(refused) == WORKERS * 3 - 1
    assert {answer["error"] for answer in refused} == {"Active job exists with key once"}
    assert Job.objects.count() == 1
    # No number was used up by the refused pushes.
    assert Spider.objects.get(name="books").last_job_number == 1
    assert_counts_exact()


def test_start_update_and_cancel_at_once_keep_the_counts_exact(live, project, apikey):
    lines = [
        job_line(
            spider=f"s{i % 2}",
            spider_number=i % 2 + 1,
            number=i + 1,
            state="pending",
            ts=1_700_000_000_000 + i,
        )
        for i in range(60)
    ]
    keys = add_jobs(*lines)
    cancel = orjson.dumps([{"key": key} for key in keys[::3]]).decode()
    finish_spider = '{"key": "53/2", "state": "finished", "close_reason": "swept"}'
    answers = run_workers(
        live,
        apikey,
        "start",
        workers=2,
        others=[
            ("post", "/jobq/53/cancel", "2", cancel),
            ("post", "/jobq/53/update", "3", finish_spider),
        ],
    )

    started = [job["key"] for job in answers[0] + answers[1]]
    assert len(started) == len(set(started))
    # Every job is running (started, perhaps then swept) or finished, none pending.
    assert set(Job.objects.values_list("state", flat=True)) <= {"running", "finished"}
    for job in Job.objects.filter(state="finished"):
        assert job.close_reason in ("cancelled", "swept"), job.key
    assert_counts_exact()

#!/usr/bin/env python
"""Time `import_jobs` on a generated file of realistic jobs: a first load into
an empty project, then the same file again (every line unchanged), then the
file with every job moved to another state. Prints figures, never asserts.

    .venv/bin/python scripts/bench_import.py                  # 200,000 jobs
    .venv/bin/python scripts/bench_import.py --jobs 20000 --keep

Uses the configured database (DATABASE_URL, else the local SQLite). The
project (999100 by default) is deleted first, and afterwards unless --keep.
Jobs have about 1.5 KB of Scrapy stats each, 50 spiders of skewed sizes,
tags from common to rare, as scripts/bench.py generates them.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobqsite.settings")
os.environ.setdefault("JOBQ_LOCAL", "1")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402

from jobs.models import Job, JobCount, Project  # noqa: E402

SPIDERS = 50
DAY_MS = 86_400_000
TAGS = [("prod", 0.9), ("daily", 0.5), ("backfill", 0.05), ("rare", 0.001)]
STATES = [("finished", 0.97), ("deleted", 0.02), ("running", 0.005), ("pending", 0.005)]


def pick(rng, weighted):
    roll = rng.random()
    for value, share in weighted:
        roll -= share
        if roll < 0:
            return value
    return weighted[0][0]


def stats(rng, items):
    """About 1.5 KB of Scrapy stats."""
    pages = items + rng.randint(1, 500)
    values = {
        "downloader/request_bytes": pages * rng.randint(280, 420),
        "downloader/request_count": pages,
        "downloader/request_method_count/GET": pages,
        "downloader/response_bytes": pages * rng.randint(20_000, 90_000),
        "downloader/response_count": pages,
        "downloader/response_status_count/200": pages,
        "downloader/response_status_count/301": rng.randint(0, 50),
        "downloader/response_status_count/404": rng.randint(0, 20),
        "dupefilter/filtered": rng.randint(0, 5000),
        "elapsed_time_seconds": round(rng.uniform(30, 9000), 3),
        "finish_reason": "finished",
        "httpcompression/response_bytes": pages * rng.randint(50_000, 200_000),
        "httpcompression/response_count": pages,
        "item_scraped_count": items,
        "log_count/DEBUG": pages * 2,
        "log_count/INFO": rng.randint(10, 400),
        "log_count/WARNING": rng.randint(0, 30),
        "memusage/max": rng.randint(180, 900) * 1024 * 1024,
        "memusage/startup": 62 * 1024 * 1024,
        "request_depth_max": rng.randint(1, 12),
        "response_received_count": pages,
        "robotstxt/request_count": 1,
        "robotstxt/response_count": 1,
        "robotstxt/response_status_count/200": 1,
        "scheduler/dequeued": pages,
        "scheduler/dequeued/memory": pages,
        "scheduler/enqueued": pages,
        "scheduler/enqueued/memory": pages,
        "start_time": "2026-01-01T00:00:00.000000",
        "finish_time": "2026-01-01T02:00:00.000000",
    }
    for n in range(rng.randint(3, 5)):
        values[f"spidermon/validation/fields/errors/field_{n:02d}/missing_required_field"] = rng.randint(
            0, 99
        )
    return values


def lines(project_id, total, seed, state_override=None):
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(SPIDERS)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[0] += total - sum(sizes)
    now = int(time.time() * 1000)
    start = now - 365 * DAY_MS
    for spider, size in enumerate(sizes, start=1):
        for number, ts in enumerate(sorted(rng.randint(start, now) for _ in range(size)), start=1):
            state = state_override or pick(rng, STATES)
            items = rng.randint(0, 5000)
            job = {
                "key": f"{project_id}/{spider}/{number}",
                "spider": f"spider{spider:02d}",
                "state": state,
                "ts": ts,
                "pending_time": ts - 60_000,
                "tags": [tag for tag, share in TAGS if rng.random() < share],
                "version": "1.0",
                "scheduled_by": "periodicjobs",
                "spider_args": {"region": rng.choice(["eu", "us"])},
            }
            if state != "pending":
                job.update(running_time=ts - 50_000, started_by="jobrunner", scrapystats=stats(rng, items))
            if state in ("finished", "deleted"):
                job.update(finished_time=ts, close_reason="finished", completed_by="jobrunner")
            if state == "deleted":
                job["deleted_time"] = ts
            yield orjson.dumps(job).decode()


def timed_import(path, total, label):
    started = time.monotonic()
    call_command("import_jobs", str(path), verbosity=0)
    elapsed = time.monotonic() - started
    print(f"{label:<32} {elapsed:7.1f} s  {total / elapsed:9,.0f} jobs/s", flush=True)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--project", type=int, default=999100)
    parser.add_argument("--keep", action="store_true", help="leave the project in the database")
    parser.add_argument("--no-move", action="store_true", help="skip the third import (every job moved)")
    args = parser.parse_args()
    Project.objects.filter(pk=args.project).delete()
    with tempfile.TemporaryDirectory() as tmp:
        first, moved = Path(tmp) / "jobs.jl", Path(tmp) / "moved.jl"
        first.write_text("\n".join(lines(args.project, args.jobs, seed=1)) + "\n")
        moved.write_text("\n".join(lines(args.project, args.jobs, seed=1, state_override="deleted")) + "\n")
        size = first.stat().st_size
        print(f"{connection.vendor}, {args.jobs:,} jobs, {size / args.jobs:,.0f} bytes a line", flush=True)
        timed_import(first, args.jobs, "first load")
        timed_import(first, args.jobs, "same file again (unchanged)")
        if not args.no_move:
            timed_import(moved, args.jobs, "every job moved to deleted")
    counted = JobCount.objects.filter(project_id=args.project).aggregate(n=Sum("n"))["n"]
    print(f"counters {counted:,}, jobs {Job.objects.filter(project_id=args.project).count():,}")
    if not args.keep:
        Project.objects.filter(pk=args.project).delete()


if __name__ == "__main__":
    main()

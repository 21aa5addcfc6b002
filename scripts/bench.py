#!/usr/bin/env python
"""Time the JobQ read API on a large synthetic project: `make bench`.

Prints figures, never asserts them. Runs against the configured database
(DATABASE_URL, else the local SQLite under var/), through Django's test
client in-process, so it measures our code and the database, not a network.

The project (id 999000 by default) is generated once with bulk inserts and
exact counters, and reused while its job count matches --jobs:

    .venv/bin/python scripts/bench.py                  # 200,000 jobs
    .venv/bin/python scripts/bench.py --jobs 1000000 --repeat 30
    .venv/bin/python scripts/bench.py --drop           # delete the bench project
"""

import argparse
import base64
import os
import platform
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobqsite.settings")
# A bench runs from a checkout, as the local run does (jobqsite/settings.py).
os.environ.setdefault("JOBQ_LOCAL", "1")
# Its requests are timed, not logged.
os.environ.setdefault("ACCESS_LOG", "0")

import django

django.setup()
# WhiteNoise warns that collectstatic never ran: irrelevant to the API.
warnings.filterwarnings("ignore", "No directory at", UserWarning)

from django.db import connection, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test import Client  # noqa: E402

from jobs.counts import CountChanges, row_of  # noqa: E402
from jobs.lifecycle import remember_tags  # noqa: E402
from jobs.models import ApiKey, Job, JobCount, Project, Spider  # noqa: E402

DAY_MS = 24 * 3600 * 1000
SPIDERS = 50
# (tag, share of jobs): common to rare.
TAGS = [("prod", 0.8), ("daily", 0.3), ("backfill", 0.02), ("rare", 0.001)]
BATCH = 5000


def log(message):
    print(message, file=sys.stderr, flush=True)


# --- the synthetic project -----------------------------------------------------


def bench_jobs_count(project_id):
    return JobCount.objects.filter(project_id=project_id).aggregate(n=Sum("n"))["n"] or 0


def spider_sizes(total, rng):
    """Skewed (Zipf-like) job counts for SPIDERS spiders, summing to total."""
    weights = [1 / (rank + 1) ** 1.1 for rank in range(SPIDERS)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[0] += total - sum(sizes)
    return sizes


def state_of(rng):
    roll = rng.random()
    if roll < 0.97:
        return "finished"
    if roll < 0.99:
        return "deleted"
    return "running" if roll < 0.995 else "pending"


def generate(project_id, total, seed=1):
    """A fresh project of `total` jobs over a year, bulk-inserted in batches;
    each batch adds its exact counts in the same transaction."""
    rng = random.Random(seed)
    Project.objects.filter(pk=project_id).delete()
    project = Project.objects.create(pk=project_id, name="bench", last_spider_number=SPIDERS)
    spiders = Spider.objects.bulk_create(
        [Spider(project=project, number=n, name=f"spider{n:02d}") for n in range(1, SPIDERS + 1)]
    )
    sizes = spider_sizes(total, rng)
    now = int(time.time() * 1000)
    start = now - 365 * DAY_MS
    started = time.monotonic()
    rows, written = [], 0
    for spider, size in zip(spiders, sizes, strict=True):
        # Job numbers grow with time within a spider.
        for number, ts in enumerate(sorted(rng.randint(start, now) for _ in range(size)), start=1):
            state = state_of(rng)
            tags = [tag for tag, share in TAGS if rng.random() < share]
            items = rng.randint(0, 5000)
            job = Job(
                project_id=project_id,
                spider_id=spider.pk,
                number=number,
                key=f"{project_id}/{spider.number}/{number}",
                state=state,
                ts=ts,
                pending_time=ts - 60_000,
                running_time=None if state == "pending" else ts - 50_000,
                finished_time=ts if state in ("finished", "deleted") else None,
                deleted_time=ts if state == "deleted" else None,
                tags=tags,
                close_reason="finished" if state in ("finished", "deleted") else None,
                items=items,
                pages=items + rng.randint(1, 100),
                errors=rng.choice([None, None, None, 1]),
                version="1.0",
                scrapystats={"item_scraped_count": items},
            )
            rows.append(job)
            if len(rows) >= BATCH:
                written += write(rows)
                rows = []
                sys.stderr.write(f"\r  {written:,} / {total:,} jobs written…")
        Spider.objects.filter(pk=spider.pk).update(last_job_number=size)
    written += write(rows)
    remember_tags((project_id, tag) for tag, _ in TAGS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_job")
    log(f"\r  {written:,} jobs in {time.monotonic() - started:.1f} s      ")


@transaction.atomic
def write(rows):
    Job.objects.bulk_create(rows, batch_size=1000)
    counts = CountChanges()
    for job in rows:
        counts.added(row_of(job))
    counts.apply()
    return len(rows)


# --- timing ---------------------------------------------------------------------


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(client, path, repeat):
    """(body, [seconds]) of `repeat` requests after one warm-up."""

    def once():
        started = time.perf_counter()
        response = client.get(path)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}: {body[:200]!r}")
        return body, elapsed

    once()
    results = [once() for _ in range(repeat)]
    return results[0][0], [elapsed for _, elapsed in results]


def cases(project_id):
    p = f"/jobq/{project_id}"
    biggest, small = "spider01", f"spider{SPIDERS:02d}"
    now = int(time.time() * 1000)
    window = f"startts={now - 200 * DAY_MS}&endts={now - 193 * DAY_MS}"
    # A key about 1,000 jobs from the newest, for stop=.
    stop = (
        Job.objects.for_project(project_id).filter(state="finished").newest_first()
        .values_list("key", flat=True)[1000:1001].first()
    )  # fmt: skip
    listing = [
        ("list: no filter", f"{p}/list?count=100"),
        (f"list: spider={biggest}", f"{p}/list?count=100&spider={biggest}"),
        (f"list: spider={small}", f"{p}/list?count=100&spider={small}"),
        ("list: state=running", f"{p}/list?count=100&state=running"),
        ("list: has_tag=rare", f"{p}/list?count=100&has_tag=rare"),
        ("list: has_tag=prod", f"{p}/list?count=100&has_tag=prod"),
        ("list: lacks_tag=prod", f"{p}/list?count=100&lacks_tag=prod"),
        ("list: startts/endts week", f"{p}/list?count=100&{window}"),
        ("list: stop=<1000th key>", f"{p}/list?count=2000&stop={stop}"),
        ("list: start=50000", f"{p}/list?count=100&start=50000"),
        ("count: no filter", f"{p}/count"),
        (f"count: spider={small}", f"{p}/count?spider={small}"),
        ("count: state=running", f"{p}/count?state=running"),
        ("count: has_tag=rare", f"{p}/count?has_tag=rare"),
        ("count: has_tag=prod", f"{p}/count?has_tag=prod"),
        ("count: startts/endts week", f"{p}/count?{window}"),
    ]
    return listing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200_000, help="jobs in the bench project")
    parser.add_argument("--project", type=int, default=999_000, help="the bench project's id")
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per case")
    parser.add_argument("--stream", type=int, default=100_000, help="lines for the streaming case")
    parser.add_argument("--drop", action="store_true", help="delete the bench project and stop")
    args = parser.parse_args()

    if args.drop:
        Project.objects.filter(pk=args.project).delete()
        log(f"Project {args.project} deleted.")
        return
    have = bench_jobs_count(args.project)
    if have != args.jobs:
        log(f"Generating project {args.project} with {args.jobs:,} jobs (it has {have:,})…")
        generate(args.project, args.jobs)
    else:
        log(f"Reusing project {args.project} ({have:,} jobs).")

    key, raw = ApiKey.generate(projects=[args.project], name="bench", read_only=True)
    token = base64.b64encode(f"{raw}:".encode()).decode()
    client = Client(HTTP_AUTHORIZATION=f"Basic {token}", HTTP_HOST="localhost")
    try:
        print(
            f"jobq bench: {connection.vendor}, {args.jobs:,} jobs in project {args.project}, "
            f"Python {platform.python_version()}, Django {django.get_version()}, "
            f"{args.repeat} runs per case (median, p95)"
        )
        print(f"{'case':34} {'rows':>8} {'median ms':>10} {'p95 ms':>9} {'rows/s':>11}")
        stream_case = (
            f"list: stream {args.stream:,} lines",
            f"/jobq/{args.project}/list?count={args.stream}",
        )
        for name, path in [*cases(args.project), stream_case]:
            repeat = max(3, args.repeat // 5) if name.startswith("list: stream") else args.repeat
            body, times = timed(client, path, repeat)
            median = statistics.median(times)
            if name.startswith("list"):
                rows = body.count(b"\n")
                rate = f"{rows / median:,.0f}"
            else:
                rows, rate = int(body), ""  # the count answered
            print(
                f"{name:34} {rows:>8,} {median * 1000:>10.1f} {percentile(times, 0.95) * 1000:>9.1f} {rate:>11}"
            )
    finally:
        key.delete()


if __name__ == "__main__":
    main()

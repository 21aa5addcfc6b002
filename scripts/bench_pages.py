#!/usr/bin/env python
"""Time the job list pages on the large synthetic project of scripts/bench.py.

Prints figures, never asserts them. In-process through Django's test client,
logged in as a staff user, against the configured database:

    .venv/bin/python scripts/bench_pages.py                  # 200,000 jobs
    .venv/bin/python scripts/bench_pages.py --jobs 1000000

"Page 1,000" is the page reached by following "Older" 999 times: a keyset
cursor 50,000 jobs deep, which should cost what page 1 costs.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # sets up Django, so it comes before the jobs imports below
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import override_settings

from jobs import listing
from jobs.models import Job

BENCH_USER = "bench-pages"


def cases(project_id):
    deep = listing.PAGE_SIZE * 999
    cursor = Job.objects.filter(project_id=project_id, state="finished").newest_first()
    deep_key = cursor.values_list("key", flat=True)[deep]
    base = f"/p/{project_id}/"
    all_states = "state=pending&state=running&state=finished"
    return [
        ("page 1, finished", base + "?state=finished", False),
        ("page 1,000, finished", base + f"?state=finished&before={deep_key}", False),
        ("page 1, every live state", base + f"?{all_states}", False),
        ("one spider", base + "?state=finished&spider=spider03", False),
        ("has_tag common (capped counts)", base + "?state=finished&has_tag=prod", False),
        ("has_tag rare", base + "?state=finished&has_tag=rare", False),
        ("lacks_tag common", base + "?state=finished&lacks_tag=prod", False),
        ("htmx swap (no chart)", base + "?state=finished&has_tag=daily", True),
        ("chart", f"/p/{project_id}/chart?state=finished", True),
        ("live poll", f"/p/{project_id}/live?{all_states}&since={deep_key}", True),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200_000, help="jobs in the bench project")
    parser.add_argument("--project", type=int, default=999_000, help="the bench project's id")
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per case")
    args = parser.parse_args()

    if bench.bench_jobs_count(args.project) != args.jobs:
        bench.log(f"Generating project {args.project} with {args.jobs:,} jobs…")
        bench.generate(args.project, args.jobs)
    # Without collectstatic, name static files plainly (as the tests do).
    storages = {**settings.STORAGES}
    storages["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES=storages).enable()

    users = get_user_model().objects
    # A superuser: only superusers see projects they are no member of.
    user = users.update_or_create(username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True})[0]
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    print(f"jobq pages bench: {connection.vendor}, {args.jobs:,} jobs, {args.repeat} runs per case")
    print(f"{'case':34} {'median ms':>10} {'p95 ms':>9}")
    try:
        for name, path, htmx in cases(args.project):
            headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(path, **headers)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)
            median = statistics.median(times) * 1000
            print(f"{name:34} {median:>10.1f} {bench.percentile(times, 0.95) * 1000:>9.1f}")
        started = time.perf_counter()
        response = client.get(f"/p/{args.project}/export.jsonl?state=finished&has_tag=daily")
        first, lines = None, 0
        for chunk in response.streaming_content:
            first = first or time.perf_counter() - started
            lines += chunk.count(b"\n")
        total = time.perf_counter() - started
        print(
            f"export.jsonl: {lines:,} lines, first byte {first * 1000:.0f} ms, {lines / total:,.0f} lines/s"
        )
    finally:
        user.delete()


if __name__ == "__main__":
    main()

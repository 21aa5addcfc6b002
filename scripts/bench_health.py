#!/usr/bin/env python
"""Time spider health on the large synthetic project of scripts/bench.py:
the spiders overview, a job list page with its usual hints, a job's page with
its comparison, the outcome filter, and a run ending through lifecycle with
alert rules on. Prints figures, never asserts them.

In-process through Django's test client, logged in as a staff user, against
the configured database (DATABASE_URL, else the local SQLite):

    .venv/bin/python scripts/bench_health.py                 # project 900200000 (200,000 jobs)
    .venv/bin/python scripts/bench_health.py --repeat 30 --rebuild

The bench project is bulk-inserted by scripts/bench.py without going through
lifecycle, so its health figures are computed here once (`health.rebuild`,
timed) when missing, or again with --rebuild.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # sets up Django, so it comes before the jobs imports below
import bench_data
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from jobs import health, lifecycle
from jobs.models import AlertRule, Job, Project, SpiderHealth

BENCH_USER = "bench-health"


def cases(project_id):
    middle = (
        Job.objects.filter(project_id=project_id, state="finished")
        .newest_first()
        .values_list("key", flat=True)[1000]
    )
    _, spider, number = middle.split("/")
    spider_name = Job.objects.filter(key=middle).values_list("spider__name", flat=True).get()
    base = f"/p/{project_id}/"
    return [
        ("spiders overview", f"{base}spiders/", False),
        ("spiders overview, htmx refresh", f"{base}spiders/", True),
        ("list page 1 with hints, every spider", f"{base}?state=finished", False),
        ("list rows with hints, htmx", f"{base}?state=finished", True),
        ("list rows with hints, one spider", f"{base}?state=finished&spider={spider_name}", True),
        ("outcome=failed (partial index)", f"{base}?state=finished&outcome=failed", True),
        ("job page with its usual and runs chart", f"{base}job/{spider}/{number}/", False),
        ("job page, usual of same arguments", f"{base}job/{spider}/{number}/?usual=args", False),
    ]


def time_case(client, path, htmx, repeat):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    client.get(path, **headers)  # warm-up
    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path, **headers)
            times.append(time.perf_counter() - started)
        queries = len(captured)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
    return statistics.median(times) * 1000, bench.percentile(times, 0.95) * 1000, queries


def time_run_ending(project_id, repeat):
    """A run pushed, started and finished through lifecycle, with a rule of each
    run kind on, in a scratch project (deleted after) so the bench project
    keeps its exact job count."""
    from jobs.importing import import_lines

    project = Project.objects.create(pk=project_id, name="bench-health-writes")
    import_lines(
        f'{{"key": "{project_id}/1/{n}", "spider": "spider01", "state": "finished", "close_reason": "finished", '
        f'"items": 1000, "running_time": {n * 60_000}, "finished_time": {n * 60_000 + 30_000}}}'
        for n in range(1, 31)
    )
    rules = [
        AlertRule.objects.create(
            project=project, name="bench outcome", kind="outcome", emails="bench@example.com"
        ),
        AlertRule.objects.create(
            project=project, name="bench items", kind="stat_below", percent=1, emails="bench@example.com"
        ),
    ]
    spider = "spider01"
    finish_times = []
    try:
        for _ in range(repeat):
            [answer] = lifecycle.push_jobs(
                project=project, pushes=[lifecycle.push_request({"spider": spider}, project=project)]
            )
            key = answer["key"]
            lifecycle.update_jobs(
                project=project,
                updates=[lifecycle.update_request({"key": key, "state": "running"}, project=project)],
            )
            finish = lifecycle.update_request(
                {"key": key, "state": "finished", "close_reason": "finished", "items": 1000}, project=project
            )
            started = time.perf_counter()
            lifecycle.update_jobs(project=project, updates=[finish])
            finish_times.append(time.perf_counter() - started)
    finally:
        for rule in rules:
            rule.delete()
        project.delete()
    return statistics.median(finish_times) * 1000, bench.percentile(finish_times, 0.95) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=int, default=900_200_000, help="the bench project's id")
    parser.add_argument(
        "--jobs", type=int, default=200_000, help="jobs to generate if the project is missing"
    )
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per case")
    parser.add_argument("--rebuild", action="store_true", help="recompute the health figures first")
    args = parser.parse_args()

    if not bench_data.jobs_in(args.project):
        bench.log(f"Generating project {args.project} with {args.jobs:,} jobs (scripts/bench.py)…")
        bench_data.generate(args.project, args.jobs)
    project = Project.objects.get(pk=args.project)
    total = bench_data.jobs_in(args.project)
    if args.rebuild or not SpiderHealth.objects.filter(project=project).exists():
        started = time.perf_counter()
        rebuilt = health.rebuild(project)
        print(f"rebuild_health: {rebuilt} spiders in {time.perf_counter() - started:.1f} s")

    storages = {**settings.STORAGES}
    storages["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES=storages).enable()
    users = get_user_model().objects
    # A superuser: only superusers see projects they are no member of.
    user = users.update_or_create(username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True})[0]
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    spiders = project.spiders.count()
    print(
        f"jobq health bench: {connection.vendor}, {total:,} jobs, {spiders} spiders, {args.repeat} runs per case"
    )
    print(f"{'case':40} {'median ms':>10} {'p95 ms':>9} {'queries':>8}")
    try:
        for name, path, htmx in cases(args.project):
            median, p95, queries = time_case(client, path, htmx, args.repeat)
            print(f"{name:40} {median:>10.1f} {p95:>9.1f} {queries:>8}")
        median, p95 = time_run_ending(args.project + 1, args.repeat)
        print(f"{'a run ending (update to finished)':40} {median:>10.1f} {p95:>9.1f}")
    finally:
        user.delete()


if __name__ == "__main__":
    main()

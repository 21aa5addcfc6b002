"""Demo data and demo credentials for `make run` (the `demo` command).

The jobs are generated from a seeded `random.Random`, so two fresh setups at
the same moment hold the same jobs, and loaded through `import_lines`, so
counters, spiders and tags are kept exactly as a real import keeps them.

The demo login and API key are secrets: they are generated on the first run
and kept in VAR_DIR/demo-credentials.json (mode 600, out of git), never in
the repository. Later runs reuse them; a wiped database gets them back.
"""

import bisect
import json
import os
import random
import secrets
import string
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction

from .importing import import_lines
from .jobmeta import now_ms
from .models import ApiKey, JobCount, Membership, Project, digest_of
from .timezones import DAY_MS

SEED = 20260
MINUTE_MS = 60 * 1000
HISTORY_DAYS = 183
DEMO_USERNAME = "demo"
DEMO_KEY_NAME = "demo"
PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class DemoSpider:
    name: str
    jobs: int
    minutes: tuple  # (shortest, longest) run
    items_per_minute: int
    args: dict  # argument name -> choices (Scrapy arguments are strings)


@dataclass(frozen=True)
class DemoProject:
    id: int
    name: str
    spiders: tuple
    tags: tuple  # (tag, probability), from common to rare


DEMO_PROJECTS = (
    DemoProject(
        101,
        "shop-monitor",
        (
            # One spider with most of the jobs, as in real projects.
            DemoSpider(
                "products",
                9600,
                (20, 90),
                140,
                {"category": ["electronics", "home", "toys", "garden"], "country": ["us", "de", "fr", "uk"]},
            ),
            DemoSpider("prices", 2900, (5, 15), 300, {"store": ["north", "south", "online"]}),
            DemoSpider("books", 1500, (10, 40), 90, {"start_page": ["1", "50", "100"]}),
            DemoSpider("reviews", 900, (30, 180), 40, {"min_stars": ["1", "3"]}),
            DemoSpider("stores", 450, (2, 6), 25, {}),
            DemoSpider("sitemap", 220, (60, 240), 400, {}),
            DemoSpider("inventory-check", 60, (1, 3), 10, {"sku_file": ["top100.csv", "all.csv"]}),
        ),
        (
            ("prod", 0.85),
            ("scheduled", 0.7),
            ("daily", 0.35),
            ("incremental", 0.3),
            ("hourly", 0.2),
            ("full-crawl", 0.08),
            ("manual", 0.06),
            ("proxy:residential", 0.05),
            ("canary", 0.02),
            ("backfill", 0.01),
            ("debug", 0.004),
            ("migration-2026", 0.0008),
        ),
    ),
    DemoProject(
        102,
        "news-archive",
        (
            DemoSpider("quotes", 3100, (1, 5), 120, {"tag": ["love", "life", "humor", "books"]}),
            DemoSpider("news", 1900, (5, 20), 60, {"section": ["world", "tech", "sport", "business"]}),
            DemoSpider("articles", 900, (10, 60), 30, {"since": ["yesterday", "last-week"]}),
            DemoSpider("authors", 350, (2, 10), 15, {}),
            DemoSpider("rss-feeds", 160, (1, 3), 80, {}),
        ),
        (
            ("prod", 0.9),
            ("lang:en", 0.6),
            ("scheduled", 0.55),
            ("lang:fr", 0.12),
            ("archive", 0.07),
            ("manual", 0.05),
            ("lang:de", 0.03),
            ("retry", 0.015),
            ("debug", 0.003),
        ),
    ),
)
DEMO_PROJECT_IDS = [project.id for project in DEMO_PROJECTS]
DEMO_JOB_TOTAL = sum(spider.jobs for project in DEMO_PROJECTS for spider in project.spiders)

# Close reasons of finished jobs, with their share.
CLOSE_REASONS = (
    ("finished", 0.90),
    ("closespider_timeout", 0.025),
    ("cancelled", 0.025),
    ("shutdown", 0.02),
    ("memusage_exceeded", 0.015),
    ("failed", 0.015),
)
USERS = ("alice", "bob", "chen", "dana")
MEMUSAGE_LIMIT = 2048 * 1024 * 1024


def _choose(rng, weighted):
    roll = rng.random()
    for value, share in weighted:
        roll -= share
        if roll < 0:
            return value
    return weighted[0][0]


def _stats(rng, spider, minutes, close_reason):
    """Scrapy stats of a run that lasted `minutes` (close_reason None: still running)."""
    items = int(minutes * spider.items_per_minute * rng.uniform(0.6, 1.3))
    if close_reason == "failed":
        items = rng.choice([0, 0, 0, rng.randint(1, 50)])
    pages = int(items * rng.uniform(1.05, 1.6)) + rng.randint(1, 20)
    not_found = int(pages * rng.choice([0, 0, 0.001, 0.01, 0.03]))
    errors = rng.choice([0] * 12 + [1, 2, 3, rng.randint(4, 400)])
    if close_reason == "failed":
        errors += rng.randint(1, 30)
    requests = pages + rng.randint(0, max(1, pages // 50))
    memusage = rng.randint(180, 900) * 1024 * 1024
    if close_reason == "memusage_exceeded":
        memusage = MEMUSAGE_LIMIT + rng.randint(1, 200) * 1024 * 1024
    stats = {
        "downloader/request_count": requests,
        "downloader/request_method_count/GET": requests,
        "downloader/request_bytes": requests * rng.randint(280, 420),
        "downloader/response_count": pages,
        "downloader/response_status_count/200": pages - not_found,
        "downloader/response_bytes": pages * rng.randint(20_000, 90_000),
        "response_received_count": pages,
        "scheduler/enqueued": requests,
        "scheduler/dequeued": requests,
        "item_scraped_count": items,
        "log_count/INFO": 10 + int(minutes),
        "memusage/startup": 62 * 1024 * 1024,
        "memusage/max": memusage,
        "elapsed_time_seconds": round(minutes * 60, 3),
    }
    if not_found:
        stats["downloader/response_status_count/404"] = not_found
    retries = rng.choice([0, 0, 0, rng.randint(1, 40)])
    if retries:
        stats["retry/count"] = retries
        stats["downloader/exception_count"] = retries
    warnings = rng.choice([0, 0, rng.randint(1, 30)])
    if warnings:
        stats["log_count/WARNING"] = warnings
    # Scrapy leaves zero counts out.
    if errors:
        stats["log_count/ERROR"] = errors
    if close_reason is not None:
        stats["finish_reason"] = close_reason
    return stats


def _deploy_times(rng, start, now):
    """Deploy times of a project, every few days: each job runs the newest one."""
    times, t = [], start - 3 * DAY_MS
    while t < now:
        times.append(t)
        t += rng.randint(2, 12) * DAY_MS + rng.randint(0, DAY_MS)
    return times


def demo_lines(now=None):
    """The demo jobs as JSON lines for `import_lines`, deterministic for a given `now`."""
    now = now_ms() if now is None else now
    rng = random.Random(SEED)
    start = now - HISTORY_DAYS * DAY_MS
    for project in DEMO_PROJECTS:
        deploys = _deploy_times(rng, start, now)
        seen, finished = set(), []
        for spider_number, spider in enumerate(project.spiders, start=1):
            scheduled = sorted(rng.randint(start, now) for _ in range(spider.jobs))
            # A few runs just scheduled, still waiting in the queue.
            backlog = rng.choice((0, 0, 1, 2, 4))
            scheduled += sorted(
                rng.randint(max(scheduled[-1], now - 30 * MINUTE_MS), now) for _ in range(backlog)
            )
            for number, pending_time in enumerate(scheduled, start=1):
                job = _demo_job(rng, project, spider, pending_time, now, deploys)
                if number > spider.jobs:
                    job = _forced(job, "pending", now)
                job["key"] = f"{project.id}/{spider_number}/{number}"
                seen.add(job["state"])
                if job["state"] == "finished":
                    finished = [*finished[-2:], job]
                yield job
        # A project shows every state, even if the dice said otherwise.
        for state in ("pending", "running", "deleted"):
            if state not in seen:
                yield _forced(finished.pop(), state, now)


def _forced(job, state, now):
    job = dict(job)
    job["state"] = state
    if state == "deleted":
        job["deleted_time"] = job["ts"] = min(job["finished_time"] + MINUTE_MS, now)
        return job
    for name in ("finished_time", "close_reason", "completed_by"):
        job.pop(name, None)
    if state == "pending":
        job.pop("running_time", None)
        job.pop("started_by", None)
        job.pop("scrapystats", None)
    elif "scrapystats" in job:
        job["scrapystats"] = {k: v for k, v in job["scrapystats"].items() if k != "finish_reason"}
    job["ts"] = job[f"{state}_time"]
    return job


def _demo_job(rng, project, spider, pending_time, now, deploys):
    manual = rng.random() < 0.07
    user = rng.choice(USERS)
    tags = [tag for tag, share in project.tags if rng.random() < share]
    if manual and "manual" not in tags:
        tags.append("manual")
    job = {
        "spider": spider.name,
        "pending_time": pending_time,
        "priority": 3 if manual else _choose(rng, ((2, 0.95), (1, 0.02), (3, 0.02), (4, 0.01))),
        "units": 1 if rng.random() < 0.9 else rng.randint(2, 4),
        "tags": tags,
        "version": f"1.{bisect.bisect(deploys, pending_time)}.{rng.choice([0, 0, 1])}",
        "scheduled_by": user if manual else "periodicjobs",
    }
    args = {name: rng.choice(choices) for name, choices in spider.args.items() if rng.random() < 0.8}
    if args:
        job["spider_args"] = args
    queued = rng.choice([5_000, 10_000, 30_000, 60_000, rng.randint(60_000, 30 * MINUTE_MS)])
    running_time = pending_time + queued
    if running_time > now:
        job.update(state="pending", ts=pending_time)
        return job
    close_reason = _choose(rng, CLOSE_REASONS)
    low, high = spider.minutes
    minutes = rng.uniform(low, high)
    if close_reason in ("cancelled", "shutdown", "memusage_exceeded", "failed"):
        minutes *= rng.uniform(0.05, 0.8)
    elif close_reason == "closespider_timeout":
        minutes = high
    finished_time = running_time + int(minutes * MINUTE_MS)
    job.update(running_time=running_time, started_by="jobrunner")
    if finished_time > now:
        elapsed = (now - running_time) / MINUTE_MS
        job.update(state="running", ts=running_time, scrapystats=_stats(rng, spider, elapsed, None))
        return job
    job.update(
        state="finished",
        ts=finished_time,
        finished_time=finished_time,
        close_reason=close_reason,
        completed_by=user if close_reason == "cancelled" else "jobrunner",
        scrapystats=_stats(rng, spider, minutes, close_reason),
    )
    # Some old runs were deleted by hand later on.
    if finished_time < now - 14 * DAY_MS and rng.random() < 0.015:
        deleted_time = min(finished_time + rng.randint(1, 10 * 24) * 3600 * 1000, now)
        job.update(state="deleted", ts=deleted_time, deleted_time=deleted_time)
    return job


# --- loading ---------------------------------------------------------------


def demo_jobs_loaded():
    """True when the demo projects hold every demo job: one counter query."""
    total = JobCount.objects.filter(project_id__in=DEMO_PROJECT_IDS).aggregate(n=models.Sum("n"))["n"]
    return (total or 0) >= DEMO_JOB_TOTAL


def load_demo_jobs(now=None):
    """Create the demo projects and import their jobs (upserts: a run that was
    interrupted is completed by the next). Returns the ImportSummary."""
    for project in DEMO_PROJECTS:
        Project.objects.update_or_create(pk=project.id, defaults={"name": project.name})
    lines = (orjson.dumps(job).decode() for job in demo_lines(now))
    return import_lines(lines)


# --- credentials -----------------------------------------------------------


def credentials_path():
    return settings.VAR_DIR / "demo-credentials.json"


def read_credentials():
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("username", "password", "api_key")
    ):
        return None
    return data


def write_credentials(data):
    """Write the file readable by its owner only, from its very creation."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    path.chmod(0o600)


@dataclass
class DemoCredentials:
    username: str
    password: str | None  # None: changed since it was generated, so unknown here
    api_key: str
    notes: list


def ensure_demo_access():
    """The demo login and API key, created on the first run and reused after.

    The user `demo` is a superuser (so /admin/ is reachable) and owner of both
    demo projects; the key is read-write on both. Cheap when nothing changed:
    the stored password hash is compared as text, without hashing again.
    """
    User = get_user_model()
    notes = []
    stored = read_credentials()
    dirty = stored is None
    if stored is None:
        stored = {
            "username": DEMO_USERNAME,
            # Letters and digits only: easy to copy from a terminal.
            "password": "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(16)),
            "api_key": secrets.token_hex(16),
        }
    password = stored["password"]
    projects = list(Project.objects.filter(pk__in=DEMO_PROJECT_IDS))
    with transaction.atomic():
        user = User.objects.filter(username=stored["username"]).first()
        if user is None:
            # The first run, or a wiped database: the login takes the file's password.
            user = User(username=stored["username"], is_staff=True, is_superuser=True)
            user.set_password(password)
            user.save()
            stored["password_hash"] = user.password
            dirty = True
        elif stored.get("password_hash") != user.password:
            # Changed since, or a user of that name that this checkout did not
            # create: its password is never reset from here.
            notes.append(
                f"The user {user.username!r} has a password this checkout did not set; it is left "
                f"alone and not shown (manage.py changepassword {user.username} to set one)."
            )
            password = None
        for project in projects:
            Membership.objects.get_or_create(
                project=project, user=user, defaults={"role": Membership.Role.OWNER}
            )
        key = ApiKey.objects.filter(digest=digest_of(stored["api_key"])).first()
        if key is None:
            # A wiped database: the key comes back with the same value.
            key = ApiKey.objects.create(
                name=DEMO_KEY_NAME,
                user=user,
                digest=digest_of(stored["api_key"]),
                prefix=stored["api_key"][:8],
            )
            key.projects.set(projects)
        elif not key.is_active:
            key, stored["api_key"] = ApiKey.generate(projects=projects, name=DEMO_KEY_NAME, user=user)
            notes.append("The demo API key had been revoked; a new one was made.")
            dirty = True
    if dirty:
        write_credentials(stored)
    return DemoCredentials(stored["username"], password, stored["api_key"], notes)

"""The `demo` command behind `make run`: demo jobs once, a login and an API
key kept in VAR_DIR/demo-credentials.json, a banner whose lines work."""

import base64
import itertools
import re
import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, F, Max, Min

from jobs.demo import DEMO_JOB_TOTAL, DEMO_PROJECT_IDS, credentials_path, demo_lines, ensure_demo_access
from jobs.models import STATES, ApiKey, Job, JobCount, Membership, Project, Tag


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    """Credentials go to a temporary VAR_DIR, never to the checkout's var/."""
    settings.VAR_DIR = tmp_path
    return tmp_path


def run_demo():
    out = StringIO()
    call_command("demo", "--host", "127.0.0.1", "--port", "8123", stdout=out, stderr=StringIO())
    return out.getvalue()


def banner_credentials(output):
    username, password = re.search(r"login:\s+(\S+) / (\S+)", output).groups()
    key = re.search(r"curl -u ([0-9a-f]{32}): http://127\.0\.0\.1:8123/jobq/(\d+)/count", output)
    return username, password, key.group(1), int(key.group(2))


def basic(key):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.mark.django_db
def test_first_run_loads_demo_jobs_and_second_run_reuses_everything(client, django_assert_max_num_queries):
    first = run_demo()
    assert "Demo data loaded" in first
    assert "http://127.0.0.1:8123/" in first
    assert 'endpoint="http://127.0.0.1:8123/"' in first

    jobs = Job.objects.all()
    assert jobs.count() >= 20_000
    assert jobs.count() >= DEMO_JOB_TOTAL
    assert sorted(jobs.values_list("project_id", flat=True).distinct()) == DEMO_PROJECT_IDS
    for project_id in DEMO_PROJECT_IDS:
        states = set(jobs.filter(project_id=project_id).values_list("state", flat=True).distinct())
        assert states == set(STATES)
    # Counters equal count(*) for every (project, spider, state).
    exact = {
        (row["project_id"], row["spider_id"], row["state"]): row["n"]
        for row in jobs.values("project_id", "spider_id", "state").annotate(n=Count("id"))
    }
    counters = {(c.project_id, c.spider_id, c.state): c.n for c in JobCount.objects.all() if c.n}
    assert counters == exact
    # Realistic: mostly finished, one spider with most jobs, months of history.
    assert jobs.filter(state="finished").count() / jobs.count() > 0.95
    per_spider = sorted(jobs.values("spider").annotate(n=Count("id")).values_list("n", flat=True))
    assert per_spider[-1] > 0.4 * jobs.count()
    span = jobs.aggregate(low=Min("ts"), high=Max("ts"))
    assert span["high"] - span["low"] > 150 * 24 * 3600 * 1000
    reasons = set(jobs.values_list("close_reason", flat=True).distinct())
    assert {
        "finished",
        "cancelled",
        "shutdown",
        "memusage_exceeded",
        "closespider_timeout",
        "failed",
    } <= reasons
    assert Tag.objects.count() >= 10
    assert jobs.filter(state="finished", scrapystats__has_key="item_scraped_count").exists()
    assert not jobs.filter(state="running").exclude(running_time=F("ts")).exists()
    assert jobs.filter(spider_args__isnull=False).exists()

    # The import kept every spider's health figures (jobs/health/).
    from jobs.models import Spider, SpiderHealth

    assert SpiderHealth.objects.count() == Spider.objects.count()
    with django_assert_max_num_queries(9):
        # The counter sum, the spiders missing health figures (none), the
        # projects, the user, 2 memberships, the key.
        second = run_demo()
    assert "already loaded" in second
    assert banner_credentials(second) == banner_credentials(first)
    assert Job.objects.count() == jobs.count()

    # The printed curl line and login work.
    username, password, key, project_id = banner_credentials(second)
    answer = client.get(f"/jobq/{project_id}/count", **basic(key))
    assert answer.status_code == 200
    assert answer.json() == Job.objects.filter(project_id=project_id, state="finished").count()
    assert client.login(username=username, password=password)
    assert client.get("/admin/jobs/job/").status_code == 200


@pytest.mark.django_db
def test_credentials_are_kept_in_a_private_file(var_dir):
    access = ensure_demo_access()
    path = credentials_path()
    assert path.parent == var_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert access.api_key in path.read_text()
    user = get_user_model().objects.get(username=access.username)
    assert user.is_staff and user.check_password(access.password)
    assert ApiKey.objects.find(access.api_key).user == user


@pytest.mark.django_db
def test_wiped_database_gets_the_same_credentials_back(client):
    run_demo_access = ensure_demo_access()
    get_user_model().objects.all().delete()
    ApiKey.objects.all().delete()

    again = ensure_demo_access()
    assert (again.username, again.password, again.api_key) == (
        run_demo_access.username,
        run_demo_access.password,
        run_demo_access.api_key,
    )
    assert client.login(username=again.username, password=again.password)
    assert ApiKey.objects.find(again.api_key) is not None


@pytest.mark.django_db
def test_demo_user_owns_the_demo_projects():
    run_demo_access = ensure_demo_access()
    for pk in DEMO_PROJECT_IDS:
        Project.objects.create(pk=pk)
    ensure_demo_access()
    roles = set(
        Membership.objects.filter(user__username=run_demo_access.username).values_list("project_id", "role")
    )
    assert roles == {(pk, "owner") for pk in DEMO_PROJECT_IDS}


@pytest.mark.django_db
def test_revoked_key_is_replaced_and_the_file_updated():
    first = ensure_demo_access()
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    second = ensure_demo_access()
    assert second.api_key != first.api_key
    assert ApiKey.objects.find(second.api_key) is not None
    assert ensure_demo_access().api_key == second.api_key


@pytest.mark.django_db
def test_a_changed_password_is_not_printed():
    first = ensure_demo_access()
    user = get_user_model().objects.get(username=first.username)
    user.set_password("chosen-by-the-user-42")
    user.save()
    second = ensure_demo_access()
    assert second.password is None
    assert "not shown" in second.notes[0]
    user.refresh_from_db()
    assert user.check_password("chosen-by-the-user-42")


def test_demo_lines_are_deterministic():
    now = 1_790_000_000_000
    first = list(itertools.islice(demo_lines(now), 500))
    assert first == list(itertools.islice(demo_lines(now), 500))
    assert all(job["ts"] <= now for job in first)


@pytest.mark.django_db
def test_an_existing_user_named_demo_keeps_its_password():
    get_user_model().objects.create_user("demo", password="someone-elses-password-7")
    access = ensure_demo_access()
    assert access.password is None and access.notes
    user = get_user_model().objects.get(username="demo")
    assert user.check_password("someone-elses-password-7")
    assert not user.is_superuser

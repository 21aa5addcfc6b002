"""Small factories. Jobs go in through the importer, so counters, spiders
and tags are kept exactly as the real write paths keep them."""

import itertools

import orjson

from jobs.counts import rebuild_counters
from jobs.importing import import_lines
from jobs.models import ApiKey, Job, Membership, Project

_numbers = itertools.count(1)
BASE_TS = 1_700_000_000_000


def make_project(pk=53, name="books"):
    return Project.objects.get_or_create(pk=pk, defaults={"name": name})[0]


def make_key(*projects, read_only=False, name="test"):
    """A new API key for the projects; returns the raw key."""
    return ApiKey.generate(projects=list(projects), name=name, read_only=read_only)[1]


def job_line(project_id=53, spider="books", spider_number=1, number=None, state="finished", ts=None, **meta):
    number = number or next(_numbers)
    ts = BASE_TS + number * 1000 if ts is None else ts
    line = {"key": f"{project_id}/{spider_number}/{number}", "spider": spider, "state": state, "ts": ts}
    line.setdefault(f"{state}_time", ts)
    line.update(meta)
    return line


def add_jobs(*lines):
    """Import job lines (dicts, see job_line); returns their keys."""
    import_lines([orjson.dumps(line).decode() for line in lines])
    return [line["key"] for line in lines]


def add_job(**kwargs):
    return add_jobs(job_line(**kwargs))[0]


def make_user(username, project=None, role=Membership.Role.MEMBER, **extra):
    """A user (password "pw"), a member of `project` with `role` when given."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, password="pw", **extra)
    if project is not None:
        Membership.objects.create(project=project, user=user, role=role)
    return user


def store_times(key, **times):
    """Write times straight into a job's row, as rows written before the API
    checked its times hold them (the API refuses these now), with the
    counters such a row had (its day counted under its `ts`)."""
    Job.objects.filter(key=key).update(**times)
    rebuild_counters()

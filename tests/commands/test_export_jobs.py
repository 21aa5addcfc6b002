"""manage.py export_jobs, and the export -> import round trip."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from jobs.models import DayCount, DayTagCount, Job, JobCount, TagCount

from ..factories import BASE_TS, add_jobs, job_line


def export_to(tmp_path, *args, name="out.jl"):
    path = tmp_path / name
    call_command("export_jobs", *args, "-o", str(path), stderr=io.StringIO())
    return path.read_bytes()


@pytest.fixture
def rich_jobs(project):
    return add_jobs(
        job_line(
            spider="books",
            spider_number=3,
            tags=["a", "ü"],
            close_reason="finished",
            priority=4,
            units=2,
            spider_args={"q": "x"},
            version="v1",
            scheduled_by="alice",
            started_by="bot",
            completed_by="bot",
            scrapystats={"item_scraped_count": 5, "downloader/request_count": 9},
            pending_time=BASE_TS - 5,
            running_time=BASE_TS - 3,
            custom={"nested": [1, 2.5, None, True, "ß"]},
            items=11,
        ),
        job_line(spider="quotes", spider_number=1, state="running", running_time=BASE_TS + 50_000),
        job_line(
            spider="quotes",
            spider_number=1,
            state="deleted",
            finished_time=BASE_TS,
            deleted_time=BASE_TS + 60_000,
        ),
        job_line(spider="quotes", spider_number=1, state="pending", ts=BASE_TS + 70_000),
    )


def test_round_trip_is_exact(tmp_path, rich_jobs):
    first = export_to(tmp_path, "--project", "53")
    assert first.count(b"\n") == 4
    before = {job["key"]: job for job in Job.objects.values()}
    # A fresh database: no jobs, no counters.
    Job.objects.all().delete()
    for counter in (JobCount, TagCount, DayCount, DayTagCount):
        counter.objects.all().delete()
    path = tmp_path / "out.jl"
    call_command("import_jobs", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert export_to(tmp_path, "--project", "53", name="again.jl") == first
    after = {job["key"]: job for job in Job.objects.values()}
    strip = lambda job: {k: v for k, v in job.items() if k != "id"}  # noqa: E731
    assert {k: strip(v) for k, v in after.items()} == {k: strip(v) for k, v in before.items()}


def test_export_lines_carry_key_ts_and_metadata(tmp_path, rich_jobs):
    lines = [json.loads(line) for line in export_to(tmp_path, "--project", "53").splitlines()]
    rich = next(line for line in lines if line["key"] == rich_jobs[0])
    assert rich["custom"] == {"nested": [1, 2.5, None, True, "ß"]}
    assert rich["items"] == 11 and rich["spider"] == "books" and rich["project"] == 53
    assert rich["scrapystats"]["downloader/request_count"] == 9
    assert {line["state"] for line in lines} == {"finished", "running", "deleted", "pending"}


def test_export_filters(tmp_path, rich_jobs):
    only_running = export_to(tmp_path, "--project", "53", "--state", "running")
    assert [json.loads(line)["key"] for line in only_running.splitlines()] == [rich_jobs[1]]
    tagged = export_to(tmp_path, "--project", "53", "--has-tag", "ü", name="t.jl")
    assert [json.loads(line)["key"] for line in tagged.splitlines()] == [rich_jobs[0]]


def test_unknown_project_and_bad_filter(tmp_path, rich_jobs):
    with pytest.raises(CommandError, match="no project 99"):
        export_to(tmp_path, "--project", "99")
    with pytest.raises(CommandError, match="startts"):
        export_to(tmp_path, "--project", "53", "--startts", "soon")

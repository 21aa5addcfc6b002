"""manage.py rebuild_counters: every counter recomputed from the jobs table."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from jobs.counts import day_of
from jobs.models import DayCount, DayTagCount, Job, JobCount, TagCount

from ..counting import (
    assert_counts_exact,
    counted,
    counters,
    day_counters,
    day_tag_counters,
    day_tags_counted,
    days_counted,
    tag_counters,
    tags_counted,
)
from ..factories import add_jobs, job_line


def test_rebuild_recomputes_counters_that_were_lost_or_wrong(project, other_project):
    add_jobs(
        job_line(number=1, tags=["a", "b"], close_reason="finished"),
        job_line(number=2, tags=["a"], close_reason="failed"),
        job_line(number=3, tags=["a"], close_reason="closespider_timeout"),
        job_line(number=4, state="running", tags=["b"]),
        job_line(number=5, state="deleted", ts=86_400_000 * 3),
        job_line(project_id=54, spider="other", number=6, tags=["a"], close_reason="banned"),
    )
    expected = tag_counters()
    # A restore, say, or rows written by hand: counters that no longer match the jobs.
    JobCount.objects.update(n=7)
    TagCount.objects.filter(tag="a").delete()
    DayCount.objects.update(n=0)
    Job.objects.filter(key="53/1/5").update(tags=["c"])
    Job.objects.filter(key="53/1/3").update(ts=-1)
    out = StringIO()
    call_command("rebuild_counters", stdout=out)
    assert out.getvalue().startswith("Counters rebuilt: ")
    assert_counts_exact()
    assert tag_counters() == {**expected, (53, Job.objects.get(key="53/1/5").spider_id, "deleted", "c"): 1}
    # A time before 1970 belongs to the day before the epoch, as in Python.
    assert DayCount.objects.filter(day=-1, outcome="timeout", n=1).exists()


def test_rebuild_of_one_project_recounts_it_and_leaves_the_others(project, other_project):
    add_jobs(
        job_line(number=1, tags=["a"], close_reason="failed"),
        job_line(number=2, state="running", tags=["b"]),
        job_line(number=3, state="deleted", ts=86_400_000 * 3),
        job_line(project_id=54, spider="other", number=4, tags=["a"]),
    )
    kept_and_counted = (
        (counters, counted),
        (tag_counters, tags_counted),
        (day_counters, days_counted),
        (day_tag_counters, day_tags_counted),
    )

    def of(project_id, figures):
        return {key: n for key, n in figures.items() if key[0] == project_id}

    # Every project's counters wrong, as after a restore.
    JobCount.objects.update(n=7)
    TagCount.objects.filter(tag="a").delete()
    DayCount.objects.update(n=0)
    DayTagCount.objects.all().delete()
    out = StringIO()
    call_command("rebuild_counters", "--project", "53", stdout=out)
    assert out.getvalue().startswith("Counters rebuilt: ")
    for kept, count in kept_and_counted:
        assert of(53, kept()) == of(53, count())
    # Project 54's are left as they were: only 53's were rebuilt.
    assert set(JobCount.objects.filter(project_id=54).values_list("n", flat=True)) == {7}
    for kept, count in kept_and_counted[1:]:
        assert of(54, kept()) == {} != of(54, count())
    call_command("rebuild_counters", verbosity=0)
    assert_counts_exact()


def test_rebuild_of_an_unknown_project_is_refused(db):
    with pytest.raises(CommandError, match="There is no project 99"):
        call_command("rebuild_counters", "--project", "99")
    with pytest.raises(CommandError, match="There is no project"):
        call_command("rebuild_counters", "--project", str(2**70))


def test_rebuild_of_no_jobs_leaves_no_counters(db):
    call_command("rebuild_counters", verbosity=0)
    assert not JobCount.objects.exists() and not TagCount.objects.exists() and not DayCount.objects.exists()


def test_a_ts_at_either_end_of_64_bits_is_counted_on_its_day(project):
    # Rows stored before writes checked their times: the SQL day of -2**63
    # must not step outside 64 bits on PostgreSQL.
    add_jobs(job_line(number=1), job_line(number=2), job_line(number=3))
    for key, ts in (("53/1/1", -(2**63)), ("53/1/2", 2**63 - 1), ("53/1/3", -1)):
        Job.objects.filter(key=key).update(ts=ts)
    call_command("rebuild_counters", stdout=StringIO())
    days = set(DayCount.objects.values_list("day", flat=True))
    assert days == {day_of(-(2**63)), day_of(2**63 - 1), day_of(-1)}

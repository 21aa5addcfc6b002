"""The check every write test ends with: each counter (jobs/counts.py) equals
what count(*) finds in the jobs table, worked out here in Python."""

from collections import Counter

from jobs.models import DayCount, DayTagCount, Job, JobCount, TagCount
from jobs.outcomes import badge_of
from jobs.timezones import DAY_MS


def counters():
    """{(project_id, spider_id, state): n} from the counters, zeros left out."""
    return {(c.project_id, c.spider_id, c.state): c.n for c in JobCount.objects.all() if c.n}


def tag_counters():
    """{(project_id, spider_id, state, tag): n}, zeros left out."""
    rows = TagCount.objects.values_list("project_id", "spider_id", "state", "tag", "n")
    return {tuple(row[:4]): row[4] for row in rows if row[4]}


def day_counters():
    """{(project_id, spider_id, state, outcome, day): n}, zeros left out."""
    rows = DayCount.objects.values_list("project_id", "spider_id", "state", "outcome", "day", "n")
    return {tuple(row[:5]): row[5] for row in rows if row[5]}


def day_tag_counters():
    """{(project_id, tag, day, spider_id, state, outcome): n}, zeros left out."""
    rows = DayTagCount.objects.values_list("project_id", "tag", "day", "spider_id", "state", "outcome", "n")
    return {tuple(row[:6]): row[6] for row in rows if row[6]}


def _jobs():
    return Job.objects.values_list("project_id", "spider_id", "state", "tags", "close_reason", "ts")


def counted():
    return dict(Counter((project, spider, state) for project, spider, state, *_ in _jobs()))


def tags_counted():
    return dict(
        Counter(
            (project, spider, state, tag)
            for project, spider, state, tags, _, _ in _jobs()
            for tag in set(tags)
        )
    )


def days_counted():
    return dict(
        Counter(
            (project, spider, state, badge_of(state, reason), ts // DAY_MS)
            for project, spider, state, _, reason, ts in _jobs()
        )
    )


def day_tags_counted():
    return dict(
        Counter(
            (project, tag, ts // DAY_MS, spider, state, badge_of(state, reason))
            for project, spider, state, tags, reason, ts in _jobs()
            for tag in set(tags)
        )
    )


def assert_counts_exact():
    assert counters() == counted()
    assert tag_counters() == tags_counted()
    assert day_counters() == days_counted()
    assert day_tag_counters() == day_tags_counted()

"""The check every write test ends with: the per-(project, spider, state)
counters equal what count(*) finds."""

from django.db.models import Count

from jobs.models import Job, JobCount


def counters():
    """{(project_id, spider_id, state): n} from the counters, zeros left out."""
    return {(c.project_id, c.spider_id, c.state): c.n for c in JobCount.objects.all() if c.n}


def counted():
    rows = Job.objects.values("project_id", "spider_id", "state").annotate(n=Count("id"))
    return {(row["project_id"], row["spider_id"], row["state"]): row["n"] for row in rows}


def assert_counts_exact():
    assert counters() == counted()

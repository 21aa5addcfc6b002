"""Outcomes derived from state and close reason (jobs/outcomes.py), and the
outcome filter of JobFilter, shared by the job list and the API."""

import pytest
from django.db import connection

from jobs.filters import FILTER_PARAMS, JobFilter
from jobs.models import Job
from jobs.outcomes import OUTCOMES, badge_of, outcome_of

from ..factories import add_jobs, job_line

REASONS = {
    "finished": "finished",
    "failed": "failed",
    "killed": "failed",
    "cancelled": "cancelled",
    "cancel_timeout": "cancelled",
    "closespider_itemcount": "limit",
    "closespider_pagecount_no_item": "limit",
    "closespider_timeout": "timeout",
    "memusage_exceeded": "memory",
    "shutdown": "shutdown",
    "banned": "other",
    None: "finished",
    "": "finished",
}


@pytest.mark.parametrize(("reason", "outcome"), REASONS.items())
def test_close_reasons_group_into_outcomes(reason, outcome):
    assert outcome_of(reason).value == outcome
    assert badge_of("finished", reason) == outcome


@pytest.mark.parametrize("state", ["pending", "running", "deleted"])
def test_jobs_without_an_outcome_show_their_state(state):
    assert badge_of(state, "failed") == state


def test_the_filter_is_a_jobq_parameter_of_its_own():
    assert "outcome" in FILTER_PARAMS


@pytest.fixture
def jobs_of_every_reason(project):
    lines = [job_line(number=n, close_reason=reason) for n, reason in enumerate(REASONS, start=1)]
    lines.append(job_line(number=99, state="running", close_reason=None))
    add_jobs(*lines)


@pytest.mark.parametrize("outcome", [outcome.value for outcome in OUTCOMES])
def test_filter_by_each_outcome_matches_the_classification(project, jobs_of_every_reason, outcome):
    jobfilter = JobFilter({"outcome": [outcome]}, project=project)
    assert jobfilter.is_valid()
    found = set(jobfilter.qs.values_list("close_reason", flat=True))
    expected = {reason for reason, value in REASONS.items() if value == outcome}
    if outcome == "finished":
        # NULL and "" both count as a clean finish.
        assert found == {"finished", None, ""}
    else:
        assert found == expected


def test_several_outcomes_and_states_combine(project, jobs_of_every_reason):
    jobfilter = JobFilter(
        {"outcome": ["failed", "memory"], "state": ["finished", "running"]}, project=project
    )
    assert jobfilter.is_valid()
    assert sorted(jobfilter.qs.values_list("close_reason", flat=True)) == [
        "failed",
        "killed",
        "memusage_exceeded",
    ]
    assert not JobFilter({"outcome": ["exploded"]}, project=project).is_valid()


def test_the_api_filters_by_outcome_too(api, jobs_of_every_reason):
    lines = api.get("/jobq/53/list?outcome=cancelled").content.decode().splitlines()
    assert len(lines) == 2
    bad = api.get("/jobq/53/list?outcome=exploded")
    assert bad.status_code == 400 and bad.json()["param"] == "outcome"
    assert api.get("/jobq/53/count?outcome=failed").json() == 2


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_unclean_outcomes_are_served_by_their_partial_index(project, jobs_of_every_reason):
    jobfilter = JobFilter({"outcome": ["failed"]}, project=project)
    assert jobfilter.is_valid()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        sql, params = jobfilter.qs.order_by("-ts", "-id").values("id")[:50].query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "job_unclean_ts" in plan
    assert Job.objects.count() == len(REASONS) + 1

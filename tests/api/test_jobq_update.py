"""POST /jobq/<project>/update"""

import json

import pytest

from jobs.models import Job

from ..counting import assert_counts_exact
from ..factories import BASE_TS, add_job, make_key
from .test_jobq_push import answers, assert_bad, post, push


def update(api, *lines, body=None):
    return post(api, "/jobq/53/update", *lines, body=body)


def test_start_finish_delete(api, project):
    key = add_job(state="pending", ts=BASE_TS, pending_time=BASE_TS)

    assert answers(update(api, {"key": key, "state": "running", "started_by": "worker"})) == [
        {"key": key, "prevstate": "pending"}
    ]
    job = Job.objects.get(key=key)
    assert job.state == "running" and job.started_by == "worker"
    assert job.ts == job.running_time > BASE_TS
    assert job.pending_time == BASE_TS
    running_time = job.running_time

    assert answers(
        update(api, {"key": key, "state": "finished", "close_reason": "finished", "completed_by": "w"})
    ) == [{"key": key, "prevstate": "running"}]
    job = Job.objects.get(key=key)
    assert (job.state, job.close_reason, job.completed_by) == ("finished", "finished", "w")
    assert job.ts == job.finished_time >= running_time

    assert answers(update(api, {"key": key, "state": "deleted"})) == [{"key": key, "prevstate": "finished"}]
    job = Job.objects.get(key=key)
    assert job.state == "deleted"
    assert job.ts == job.deleted_time >= job.finished_time
    # Deleted jobs keep their earlier times.
    assert (job.pending_time, job.running_time) == (BASE_TS, running_time)
    assert_counts_exact()


def test_extra_fields_are_merged(api, project):
    key = add_job(state="running", keep={"a": 1}, replace="old")
    update(api, {"key": key, "replace": "new", "added": [1, {"b": None}], "items": 5})
    job = Job.objects.get(key=key)
    assert job.meta == {"keep": {"a": 1}, "replace": "new", "added": [1, {"b": None}], "items": 5}
    assert job.state == "running"
    assert job.items == 5  # the summary figure follows


def test_metadata_only_update_keeps_ts(api, project):
    key = add_job(state="running", ts=BASE_TS)
    assert answers(update(api, {"key": key, "foo": "bar"})) == [{"key": key, "prevstate": "running"}]
    assert answers(update(api, {"key": key, "state": "running"})) == [{"key": key, "prevstate": "running"}]
    job = Job.objects.get(key=key)
    assert job.ts == BASE_TS and job.meta == {"foo": "bar"}


def test_stats_give_summary_figures(api, project):
    key = add_job(state="running")
    update(
        api,
        {
            "key": key,
            "state": "finished",
            "scrapystats": {"item_scraped_count": 3, "response_received_count": 9},
        },
    )
    job = Job.objects.get(key=key)
    assert (job.items, job.pages, job.errors) == (3, 9, None)
    line = json.loads(api.get("/jobq/53/list").content)
    assert (line["items"], line["pages"]) == (3, 9)


def test_computed_fields_are_not_stored(api, project):
    key = add_job(state="running", ts=BASE_TS)
    update(api, {"key": key, "ts": 5, "elapsed": 10, "kept": 1})
    job = Job.objects.get(key=key)
    assert job.ts == BASE_TS and job.meta == {"kept": 1}


def test_an_explicit_time_is_when_the_state_began(api, project):
    key = add_job(state="running")
    update(api, {"key": key, "state": "finished", "finished_time": BASE_TS + 5})
    job = Job.objects.get(key=key)
    assert job.finished_time == job.ts == BASE_TS + 5


def test_spider_prefix_applies_to_its_jobs_that_are_not_deleted(api, project):
    a1 = add_job(spider="a", spider_number=1, state="pending")
    a2 = add_job(spider="a", spider_number=1, state="finished")
    add_job(spider="a", spider_number=1, state="deleted")
    b1 = add_job(spider="b", spider_number=2, state="pending")
    response = update(api, {"key": "53/1", "state": "deleted", "why": "cleanup"})
    assert answers(response) == [{"key": a1, "prevstate": "pending"}, {"key": a2, "prevstate": "finished"}]
    assert set(Job.objects.filter(spider__number=1).values_list("state", flat=True)) == {"deleted"}
    assert Job.objects.get(key=a2).meta == {"why": "cleanup"}
    assert Job.objects.get(key=b1).state == "pending"
    assert_counts_exact()


def test_unknown_jobs_answer_an_empty_body(api, project):
    add_job(spider="a", spider_number=1)
    for key in ["53/1/999", "53/9", "53/9/1"]:
        response = update(api, {"key": key, "state": "finished"})
        assert response.status_code == 200 and response.content == b""


def test_lines_apply_in_order(api, project):
    key = add_job(state="pending")
    response = update(api, {"key": key, "state": "running"}, {"key": key, "state": "finished"})
    assert answers(response) == [{"key": key, "prevstate": "pending"}, {"key": key, "prevstate": "running"}]
    assert Job.objects.get(key=key).state == "finished"
    assert_counts_exact()


def test_restore_from_deleted_keeps_the_finish_time(api, project):
    key = add_job(state="deleted", ts=BASE_TS + 10, finished_time=BASE_TS, deleted_time=BASE_TS + 10)
    update(api, {"key": key, "state": "finished"})
    job = Job.objects.get(key=key)
    assert job.state == "finished" and job.finished_time == BASE_TS and job.ts > BASE_TS + 10


@pytest.mark.parametrize(
    "line, text, param",
    [
        ({"state": "finished"}, "line 2: key must be", "key"),
        ({"key": 5}, "line 2: key must be", "key"),
        ({"key": "53/x/1"}, "line 2: '53/x/1' is not a job key", "key"),
        ({"key": "53/1/1/1"}, "line 2: '53/1/1/1' is not a job key", "key"),
        ({"key": "53"}, "line 2: '53' is not a job key", "key"),
        ({"key": "54/1/1"}, "line 2: 54/1/1 is not in project 53", "key"),
        ({"key": "54/1"}, "line 2: 54/1 is not in project 53", "key"),
        ({"key": "53/1/1", "state": "bogus"}, "line 2: state must be one of", "state"),
        ({"key": "53/1/1", "x": "a\x00b"}, "line 2: metadata must not contain NUL", "metadata"),
        ({"key": "53/1/1", "priority": True}, "line 2: priority must be an integer", "priority"),
        ({"key": "53/1/1", "tags": [""]}, "line 2: tags must be a list of non-empty strings", "tags"),
        (
            {"key": "53/1/1", "running_time": -1},
            "line 2: running_time must be a time in milliseconds",
            "running_time",
        ),
        (
            {"key": "53/1/1", "state": "finished", "finished_time": 1_700_000_000_000_000},
            "line 2: finished_time must be a time in milliseconds since 1970, from 0 (1970-01-01) to "
            "253402300799999",
            "finished_time",
        ),
        (
            {"key": "53/1", "pending_time": 253402300800000},
            "line 2: pending_time must be a time",
            "pending_time",
        ),
        ({"key": "53/1/1", "project": 54}, "line 2: project 54 is not project 53", "project"),
        (
            {"key": "53/1/1", "spider": "other"},
            "line 2: spider 'other' is not the spider of job 53/1/1",
            "spider",
        ),
        ([1], "line 2: an update line must be a JSON object", "metadata"),
    ],
)
def test_a_bad_line_refuses_the_whole_request(api, project, line, text, param):
    key = add_job(spider="books", spider_number=1, number=1, state="pending")
    response = update(api, {"key": key, "state": "running"}, line)
    assert_bad(response, text, param)
    assert Job.objects.get(key=key).state == "pending"
    assert_counts_exact()


def test_bad_json_names_the_line(api, project):
    assert_bad(update(api, body=b'{"key": "53/1/1"}\n\n{"key": '), "line 3: not valid JSON")


def test_becoming_active_again_respects_unique(api, project):
    add_job(spider="books", spider_number=1, number=1, state="finished", unique="u")
    answers(push(api, {"spider": "books", "unique": "u"}))
    other = add_job(spider="books", spider_number=1, number=7, state="pending")
    response = update(api, {"key": other, "state": "running"}, {"key": "53/1/1", "state": "pending"})
    assert_bad(response, "line 2: another active job already holds the same unique value", "unique")
    assert Job.objects.get(key="53/1/1").state == "finished"
    assert Job.objects.get(key=other).state == "pending"
    assert_counts_exact()


def test_body_over_the_limit_is_413(api, project, settings):
    settings.JOBQ_MAX_BODY_BYTES = 50
    response = update(api, {"key": "53/1/1", "state": "finished", "pad": "x" * 50})
    assert response.status_code == 413


def test_access(api, project, other_project):
    key = add_job(state="pending")
    assert post(api, "/jobq/54/update", {"key": "54/1/1"}).status_code == 404
    assert api.get("/jobq/53/update").status_code == 405
    read_only = make_key(project, read_only=True)
    api.defaults.pop("HTTP_AUTHORIZATION")
    body = b'{"key": "%s", "state": "running"}' % key.encode()
    assert api.generic("POST", f"/jobq/53/update?apikey={read_only}", body).status_code == 403
    assert api.generic("POST", "/jobq/53/update", body).status_code == 401
    assert Job.objects.get(key=key).state == "pending"


def test_query_count(api, project, django_assert_num_queries):
    key = add_job(state="pending")
    update(api, {"key": key, "foo": 1})  # the key was used this minute
    # 1. the key with its project  2. savepoint  3. the job, locked
    # 4. its new values  5-6. the counters per state and per day (no tags:
    # no tag counter changes)  7. the spider's last start
    # (health.record_starts)  8. release
    with django_assert_num_queries(8):
        update(api, {"key": key, "state": "running", "foo": 2})


def test_query_count_of_a_spider_prefix(api, project, django_assert_num_queries):
    for _ in range(30):
        add_job(spider="books", spider_number=1, state="finished")
    update(api, {"key": "53/9", "foo": 1})  # the key was used this minute
    # 1. the key with its project  2. the spiders' ids  3. savepoint
    # 4. the jobs, locked  5. one UPDATE for all (same new values)
    # 6-7. the counters per state and per day (no tags)  8-11. spider health
    # (health.RunChanges.apply): the jobs read back, the spider's row locked,
    # its newest runs walked again (they were deleted), the row written
    # 12. release
    with django_assert_num_queries(12):
        assert len(answers(update(api, {"key": "53/1", "state": "deleted"}))) == 30
    assert_counts_exact()

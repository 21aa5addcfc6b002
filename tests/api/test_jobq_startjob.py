"""POST /jobq/<project>/startjob"""

import json

from jobs.models import Job

from ..counting import assert_counts_exact
from ..factories import BASE_TS, add_job, make_key
from .test_jobq_push import answers, assert_bad, post, push


def startjob(api, body=b"{}"):
    return api.generic("POST", "/jobq/53/startjob", body, content_type="")


def test_oldest_pending_job_first(api, project):
    add_job(number=1, state="pending", ts=BASE_TS + 20)
    add_job(number=2, state="pending", ts=BASE_TS + 10)
    add_job(number=3, state="pending", ts=BASE_TS + 10)  # same ts: the older id first
    add_job(number=4, state="running", ts=BASE_TS)
    add_job(number=5, state="finished", ts=BASE_TS)
    add_job(number=6, state="deleted", ts=BASE_TS)
    started = [startjob(api).json()["key"] for _ in range(3)]
    assert started == ["53/1/2", "53/1/3", "53/1/1"]
    response = startjob(api)
    assert response.status_code == 200 and response.content == b""
    assert_counts_exact()


def test_priority_does_not_reorder_the_queue(api, project):
    # The contract asks for the oldest pending job, whatever its priority.
    older = answers(push(api, {"spider": "a", "priority": 0}))[0]["key"]
    answers(push(api, {"spider": "a", "priority": 4}))
    assert startjob(api).json()["key"] == older


def test_pushed_jobs_start_in_push_order(api, project):
    keys = [answers(push(api, {"spider": name}))[0]["key"] for name in ["a", "b", "a", "c"]]
    assert [startjob(api).json()["key"] for _ in keys] == keys


def test_answer_is_the_metadata_with_key_and_auth(api, project):
    key = answers(push(api, {"spider": "books", "priority": 3, "tags": ["t"], "custom": {"x": [1]}}))[0][
        "key"
    ]
    response = startjob(api)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    job = response.json()
    assert job["key"] == key and job["auth"] is None
    assert job["state"] == "running"
    assert job["spider"] == "books" and job["project"] == 53
    assert (job["priority"], job["tags"], job["custom"]) == (3, ["t"], {"x": [1]})
    assert job["running_time"] >= job["pending_time"]
    stored = Job.objects.get(key=key)
    assert stored.ts == stored.running_time == job["running_time"]
    assert json.loads(api.get(f"/jobs/{key}").content) == {
        k: v for k, v in job.items() if k not in ("key", "auth")
    }


def test_start_parameters_are_saved_as_metadata(api, project):
    key = add_job(state="pending")
    job = startjob(api, b'{"started_by": "worker-1", "botgroup": "g1"}').json()
    assert job["started_by"] == "worker-1" and job["botgroup"] == "g1"
    stored = Job.objects.get(key=key)
    assert stored.started_by == "worker-1" and stored.meta == {"botgroup": "g1"}


def test_empty_body_works_too(api, project):
    add_job(state="pending")
    assert startjob(api, b"").json()["state"] == "running"


def test_only_the_projects_own_jobs(api, project, other_project):
    make_key(other_project)
    add_job(project_id=54, spider="x", state="pending")
    assert startjob(api).content == b""


def test_bad_bodies(api, project):
    key = add_job(state="pending")
    assert_bad(startjob(api, b'{"state": "finished"}'), "line 1: startjob sets the state itself", "state")
    assert_bad(startjob(api, b'{"priority": "x"}'), "line 1: priority must be", "priority")
    assert_bad(
        startjob(api, b'{"spider": "books"}'),
        "line 1: startjob starts the oldest job of any spider",
        "spider",
    )
    assert_bad(startjob(api, b"{}\n{}"), "line 2: startjob takes at most one line")
    assert_bad(startjob(api, b"[1]"), "line 1: metadata must be a JSON object", "metadata")
    assert_bad(startjob(api, b"{"), "line 1: not valid JSON")
    assert Job.objects.get(key=key).state == "pending"


def test_access(api, project, other_project):
    assert post(api, "/jobq/54/startjob", {}).status_code == 404
    assert api.get("/jobq/53/startjob").status_code == 405
    read_only = make_key(project, read_only=True)
    api.defaults.pop("HTTP_AUTHORIZATION")
    assert api.generic("POST", f"/jobq/53/startjob?apikey={read_only}", b"{}").status_code == 403
    assert api.generic("POST", "/jobq/53/startjob", b"{}").status_code == 401


def test_query_count(api, project, django_assert_num_queries):
    add_job(state="pending")
    add_job(state="pending")
    startjob(api)  # the key was used this minute
    # 1. the key with its project  2. savepoint  3. the oldest pending job,
    # locked  4. its new state  5-6. the counters per state and per day (no
    # tags: no tag counter changes)  7. the spider's last start
    # (health.record_starts)  8. release  9. the spider's name
    with django_assert_num_queries(9):
        assert startjob(api).json()["state"] == "running"

"""GET /jobq/<project>/summary[/<state>], /jobq/<project>/<spiderid>/summary/<state>, /jobq/<project>/jobsummary"""

import json

import pytest

from ..factories import add_jobs, job_line


def jl(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-jsonlines; charset=utf-8"
    return [json.loads(line) for line in response.content.decode().splitlines()]


@pytest.fixture
def jobs(project):
    lines = (
        [job_line(spider="books", spider_number=1, state="finished") for _ in range(7)]
        + [job_line(spider="quotes", spider_number=2, state="finished") for _ in range(2)]
        + [job_line(spider="books", spider_number=1, state="running") for _ in range(2)]
        + [job_line(spider="quotes", spider_number=2, state="pending")]
        + [job_line(spider="books", spider_number=1, state="deleted")]
    )
    add_jobs(*lines)
    return lines


def test_summary_one_line_per_queue(api, jobs):
    queues = jl(api.get("/jobq/53/summary"))
    assert [q["name"] for q in queues] == ["pending", "running", "finished"]
    assert [q["count"] for q in queues] == [1, 2, 9]
    assert [len(q["summary"]) for q in queues] == [1, 2, 5]
    finished = [job["key"] for job in queues[2]["summary"]]
    newest = [line["key"] for line in reversed(jobs) if line["state"] == "finished"][:5]
    assert finished == newest
    assert queues[2]["summary"][0]["spider"] == "quotes"


def test_summary_of_one_state_with_count_start_jobmeta(api, jobs):
    (queue,) = jl(api.get("/jobq/53/summary/finished?count=2&start=1&jobmeta=spider"))
    assert queue["name"] == "finished" and queue["count"] == 9
    assert [set(job) for job in queue["summary"]] == [{"key", "ts", "state", "elapsed", "spider"}] * 2
    (deleted,) = jl(api.get("/jobq/53/summary/deleted"))
    assert deleted["count"] == 1


def test_spider_summary(api, jobs):
    (queue,) = jl(api.get("/jobq/53/1/summary/finished"))
    assert queue["count"] == 7
    assert {job["spider"] for job in queue["summary"]} == {"books"}
    (queue,) = jl(api.get("/jobq/53/2/summary/pending"))
    assert queue["count"] == 1
    (queue,) = jl(api.get("/jobq/53/99/summary/pending"))
    assert queue == {"name": "pending", "count": 0, "summary": []}


def test_summary_bad_state_and_params(api, jobs):
    response = api.get("/jobq/53/summary/bogus")
    assert response.status_code == 400 and response.json()["param"] == "state"
    response = api.get("/jobq/53/summary?count=-1")
    assert response.status_code == 400 and response.json()["param"] == "count"


@pytest.mark.parametrize(
    "path",
    ["/jobq/53/summary", "/jobq/53/summary/finished", "/jobq/53/1/summary/finished", "/jobq/53/jobsummary"],
)
@pytest.mark.parametrize(
    "param", ["count=1&count=2", "start=0&start=1", "spider=a&spider=b", "stop=53/1/1&stop=53/1/2"]
)
def test_a_scalar_given_twice_with_different_values_is_a_400(api, jobs, path, param):
    response = api.get(f"{path}?{param}")
    assert response.status_code == 400, response.content
    name = param.partition("=")[0]
    assert response.json() == {
        "error": "invalid_parameter",
        "message": f"{name} was given more than once with different values.",
        "param": name,
    }
    # The same value twice says the same thing once: accepted, as on /list.
    same = f"{name}={param.partition('=')[2].partition('&')[0]}"
    assert api.get(f"{path}?{same}&{same}").status_code == 200


@pytest.mark.parametrize(
    "path", ["/jobq/53/summary", "/jobq/53/summary/finished", "/jobq/53/1/summary/finished"]
)
def test_summary_count_is_capped_per_queue(api, jobs, path, settings):
    assert jl(api.get(f"{path}?count=1000"))
    response = api.get(f"{path}?count=1001")
    assert response.status_code == 400
    assert response.json()["param"] == "count"
    assert "at most 1000 jobs per queue" in response.json()["message"]
    settings.JOBQ_SUMMARY_MAX_COUNT = 3
    assert api.get(f"{path}?count=4").status_code == 400
    assert all(len(queue["summary"]) <= 3 for queue in jl(api.get(f"{path}?count=3")))


def test_summary_queries(api, jobs, django_assert_num_queries):
    api.get("/jobq/53/count")
    # the key with its project, counters by state, spider names, one per queue
    with django_assert_num_queries(6):
        jl(api.get("/jobq/53/summary"))


def test_jobsummary_in_request_order(api, jobs):
    keys = [jobs[3]["key"], "53/9/9", jobs[0]["key"], jobs[9]["key"]]
    query = "&".join(f"key={key}" for key in keys)
    lines = jl(api.get(f"/jobq/53/jobsummary?{query}"))
    assert [line["key"] for line in lines] == [keys[0], keys[2], keys[3]]
    assert lines[2]["state"] == "running"
    lines = jl(api.get(f"/jobq/53/jobsummary?key={keys[0]}&jobmeta=spider"))
    assert set(lines[0]) == {"key", "ts", "state", "elapsed", "spider"}


def test_jobsummary_without_keys_is_empty(api, jobs):
    assert api.get("/jobq/53/jobsummary").content == b""


def test_jobsummary_bad_key(api, jobs):
    response = api.get("/jobq/53/jobsummary?key=zz/1/1")
    assert response.status_code == 400 and response.json()["param"] == "key"

"""Every read endpoint through the official scrapinghub client against a live jobq."""

import pytest
import requests
from scrapinghub.client.exceptions import NotFound, Unauthorized

from ..factories import BASE_TS, add_jobs, job_line, make_key, make_project


@pytest.fixture
def jobs(project):
    lines = [
        job_line(spider="books", spider_number=1, tags=["tagA"], ts=BASE_TS + 1000, close_reason="finished"),
        job_line(spider="books", spider_number=1, tags=["tagB"], ts=BASE_TS + 2000, items=7),
        job_line(spider="quotes", spider_number=2, ts=BASE_TS + 3000, note="ünï"),
        job_line(spider="quotes", spider_number=2, state="running", ts=BASE_TS + 4000),
        job_line(spider="books", spider_number=1, state="pending", ts=BASE_TS + 5000),
    ]
    add_jobs(*lines)
    return [line["key"] for line in lines]


def test_count(shub, jobs):
    jobs_api = shub.get_project(53).jobs
    assert jobs_api.count() == 3
    assert jobs_api.count(has_tag=["tagA", "tagB"]) == 2
    assert jobs_api.count(lacks_tag=["tagA", "tagB"]) == 1
    assert jobs_api.count(spider="quotes", state=["running", "finished"]) == 2
    assert jobs_api.count(startts=BASE_TS + 2000, endts=BASE_TS + 3000) == 1


def test_list_and_iter(shub, jobs):
    jobs_api = shub.get_project(53).jobs
    listed = jobs_api.list()
    assert [job["key"] for job in listed] == [jobs[2], jobs[1], jobs[0]]
    assert listed[0]["spider"] == "quotes"
    assert listed[1]["items"] == 7
    assert [job["key"] for job in jobs_api.iter(state="running")] == [jobs[3]]
    assert [job["key"] for job in jobs_api.list(count=1, start=1)] == [jobs[1]]
    assert [job["key"] for job in jobs_api.iter(has_tag="tagA")] == [jobs[0]]
    (line,) = jobs_api.list(spider="quotes", meta=["note"])
    assert line["note"] == "ünï" and "spider" not in line


def test_stop_incremental_sync(shub, jobs):
    jobq = shub.get_project(53).jobs._project.jobq
    newest = next(iter(jobq.list()))["key"]
    assert list(jobq.list(stop=newest)) == []
    new_key = add_jobs(job_line(spider="books", spider_number=1, ts=BASE_TS + 9000))[0]
    assert [job["key"] for job in jobq.list(stop=newest)] == [new_key]


def test_summary(shub, jobs):
    jobs_api = shub.get_project(53).jobs
    queues = jobs_api.summary()
    assert [(q["name"], q["count"]) for q in queues] == [("pending", 1), ("running", 1), ("finished", 3)]
    finished = jobs_api.summary("finished")
    assert finished["count"] == 3 and len(finished["summary"]) == 3
    hs = shub._hsclient
    spider_queue = hs.get_project(53).jobq.summary("finished", spiderid=1)
    assert spider_queue["count"] == 2


def test_jobsummary(shub, jobs):
    jobq = shub._hsclient.get_project(53).jobq
    lines = list(jobq.jobsummary([jobs[3], jobs[0]], ["spider"]))
    assert [(line["key"], line["spider"]) for line in lines] == [(jobs[3], "quotes"), (jobs[0], "books")]


def test_job_metadata(shub, jobs):
    job = shub.get_project(53).jobs.get(jobs[2])
    assert job.metadata.get("state") == "finished"
    assert job.metadata.get("spider") == "quotes"
    assert job.metadata.get("note") == "ünï"
    assert dict(job.metadata.list())["project"] == 53
    hsjob = shub._hsclient.get_job(jobs[0])
    assert hsjob.metadata.liveget("close_reason") == "finished"
    assert hsjob.metadata.liveget("absent") is None


def test_spider_ids(shub, jobs):
    ids = shub._hsclient.get_project(53).ids
    assert ids.spider("quotes") == 2
    assert ids.spider("unknown") is None
    assert ids.spider("new-one", create=1) == 3


def test_wrong_key_and_foreign_project(live, jobs):
    from scrapinghub import ScrapinghubClient

    bad = ScrapinghubClient("0" * 32, endpoint=live.url + "/")
    with pytest.raises(Unauthorized):
        bad.get_project(53).jobs.count()
    outsider = ScrapinghubClient(make_key(make_project(60)), endpoint=live.url + "/")
    with pytest.raises(NotFound):
        outsider.get_project(53).jobs.count()


def test_raw_http_bytes(http, jobs):
    response = http.get("/jobq/53/list?state=running")
    assert response.headers["Content-Type"] == "application/x-jsonlines; charset=utf-8"
    assert response.encoding == "utf-8"
    assert response.content.count(b"\n") == 1 and response.content.endswith(b"\n")
    assert http.get("/jobq/53/list?spider=none").content == b""
    count = http.get("/jobq/53/count")
    assert count.headers["Content-Type"] == "application/json" and count.content == b"3"
    unauthorized = requests.get(http.url + "/jobq/53/count")
    assert unauthorized.status_code == 401
    assert unauthorized.headers["WWW-Authenticate"] == 'Basic realm="apikey"'


def test_large_list_streams_every_line(http, project):
    add_jobs(*[job_line() for _ in range(2500)])
    response = http.get("/jobq/53/list?count=3000", stream=True)
    assert "Content-Length" not in response.headers
    lines = list(response.iter_lines())
    assert len(lines) == 2500 and len(set(lines)) == 2500

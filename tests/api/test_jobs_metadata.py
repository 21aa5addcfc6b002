"""GET /jobs/<project>/<spider>/<job>[/<field>] and GET /ids/<project>/spider/<name>"""

import json

from ..factories import BASE_TS, add_job, make_key, make_project


def test_whole_metadata_is_one_json_line(api, project):
    key = add_job(
        spider="books",
        spider_number=7,
        number=81,
        ts=BASE_TS,
        pending_time=BASE_TS - 10,
        running_time=BASE_TS - 5,
        finished_time=BASE_TS,
        close_reason="finished",
        priority=3,
        tags=["a", "b"],
        spider_args={"category": "poetry"},
        version="abc123",
        scheduled_by="alice",
        started_by="runner",
        completed_by="runner",
        scrapystats={"item_scraped_count": 5, "log_count/ERROR": 0},
        custom_float=1.5,
        custom_none=None,
        custom_obj={"deep": {"er": [1, "two"]}},
    )
    response = api.get(f"/jobs/{key}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-jsonlines; charset=utf-8"
    assert response.content.count(b"\n") == 1 and response.content.endswith(b"\n")
    assert json.loads(response.content) == {
        "project": 53,
        "spider": "books",
        "state": "finished",
        "pending_time": BASE_TS - 10,
        "running_time": BASE_TS - 5,
        "finished_time": BASE_TS,
        "close_reason": "finished",
        "priority": 3,
        "units": 1,
        "tags": ["a", "b"],
        "spider_args": {"category": "poetry"},
        "version": "abc123",
        "scheduled_by": "alice",
        "started_by": "runner",
        "completed_by": "runner",
        "scrapystats": {"item_scraped_count": 5, "log_count/ERROR": 0},
        "custom_float": 1.5,
        "custom_none": None,
        "custom_obj": {"deep": {"er": [1, "two"]}},
    }


def test_one_field(api, project):
    key = add_job(close_reason="finished", custom={"a": 1})
    assert api.get(f"/jobs/{key}/close_reason").json() == "finished"
    assert api.get(f"/jobs/{key}/custom").json() == {"a": 1}
    assert api.get(f"/jobs/{key}/priority").json() == 2
    missing = api.get(f"/jobs/{key}/nothing")
    assert missing.status_code == 200 and missing.content == b"null"


def test_unknown_job_is_404(api, project):
    response = api.get("/jobs/53/1/999")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_foreign_job_is_404_like_a_missing_project(api, project, other_project):
    add_job(project_id=54, spider="x")
    foreign = api.get("/jobs/54/1/1")
    missing = api.get("/jobs/999/1/1")
    assert foreign.status_code == missing.status_code == 404


def test_spider_ids(api, project):
    add_job(spider="books", spider_number=4)
    assert api.get("/ids/53/spider/books").content == b"4"
    assert api.get("/ids/53/spider/nope").content == b"null"
    created = api.get("/ids/53/spider/nope?create=1").json()
    assert created == 5  # the next id after the highest imported one
    assert api.get("/ids/53/spider/nope").json() == 5
    assert api.get("/ids/53/spider/nope?create=1").json() == 5
    assert api.get("/ids/53/spider/%D0%BA%D0%BD%D0%B8%D0%B3%D0%B8?create=1").json() == 6


def test_spider_id_create_needs_a_write_key(client, project):
    key = make_key(project, read_only=True)
    response = client.get(f"/ids/53/spider/new?create=1&apikey={key}")
    assert response.status_code == 403
    assert client.get(f"/ids/53/spider/new?apikey={key}").content == b"null"


def test_spider_name_too_long(api, project):
    response = api.get("/ids/53/spider/" + "x" * 256)
    assert response.status_code == 400 and response.json()["param"] == "name"


def test_other_projects_spiders_are_invisible(api, project):
    make_project(54)
    add_job(project_id=54, spider="secret")
    assert api.get("/ids/54/spider/secret").status_code == 404

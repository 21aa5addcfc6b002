"""POST /jobs/<project>/<spider>/<job>[/<field>] and DELETE /jobs/<project>/<spider>/<job>/<field>"""

import json

import orjson
import pytest

from jobs.models import Job

from ..counting import assert_counts_exact
from ..factories import BASE_TS, add_job, make_key
from .test_jobq_push import assert_bad


def post(api, path, value):
    body = value if isinstance(value, bytes) else orjson.dumps(value)
    return api.generic("POST", path, body, content_type="")


def metadata(api, key):
    return json.loads(api.get(f"/jobs/{key}").content)


def ok(response):
    assert response.status_code == 200, response.content
    assert response.content == b""
    return response


def test_post_merges_an_object(api, project):
    key = add_job(state="finished", ts=BASE_TS, keep=1, change="old", tags=["a"])
    ok(
        post(
            api,
            f"/jobs/{key}",
            {"change": "new", "added": {"x": [1.5, None]}, "tags": ["b"], "close_reason": "done"},
        )
    )
    data = metadata(api, key)
    assert (data["keep"], data["change"], data["added"]) == (1, "new", {"x": [1.5, None]})
    assert (data["tags"], data["close_reason"], data["state"]) == (["b"], "done", "finished")
    assert Job.objects.get(key=key).ts == BASE_TS


def test_the_whole_metadata_sent_back_is_accepted(api, project):
    key = add_job(state="finished", spider="books", version="v1", scrapystats={"item_scraped_count": 2}, x=1)
    data = metadata(api, key)
    data.pop("state")  # as the client's JobMeta.save() does
    data["x"] = 2
    ok(post(api, f"/jobs/{key}", {**data, "key": key, "auth": None}))
    assert metadata(api, key) == {**data, "state": "finished"}
    assert_counts_exact()


def test_sending_back_the_same_times_keeps_ts(api, project):
    # A restored job: ts (when it came back) is later than its finished_time.
    key = add_job(state="finished", ts=BASE_TS + 50, finished_time=BASE_TS)
    data = metadata(api, key)
    data.pop("state")
    ok(post(api, f"/jobs/{key}", data))
    assert Job.objects.get(key=key).ts == BASE_TS + 50
    ok(post(api, f"/jobs/{key}/finished_time", BASE_TS + 10))  # a new time is news
    assert Job.objects.get(key=key).ts == BASE_TS + 10


@pytest.mark.parametrize(
    "value, text, param",
    [
        ({"project": 54}, "project 54 is not project 53", "project"),
        ({"spider": "other"}, "spider 'other' is not the spider of job 53/1/1", "spider"),
        ({"key": "53/1/2"}, "key '53/1/2' is not this job's key", "key"),
        ({"priority": 7}, "priority must be an integer from 0 to 4", "priority"),
        (
            {"finished_time": 1_700_000_000_000_000},
            "finished_time must be a time in milliseconds",
            "finished_time",
        ),
        (
            {"state": "deleted", "deleted_time": -5},
            "deleted_time must be a time in milliseconds",
            "deleted_time",
        ),
        ({"x": "nul\x00"}, "NUL", "metadata"),
        ([1, 2], "metadata must be a JSON object", "metadata"),
        (b"{", "not valid JSON", None),
        (b"", "empty", None),
        (b"\xff", "not UTF-8", None),
    ],
)
def test_bad_objects(api, project, value, text, param):
    key = add_job(spider="books", spider_number=1, number=1, x=1)
    assert_bad(post(api, f"/jobs/{key}", value), text, param)
    assert Job.objects.get(key=key).meta == {"x": 1}


def test_post_sets_one_field(api, project):
    key = add_job(state="finished")
    ok(post(api, f"/jobs/{key}/custom", {"any": ["json", 1, True]}))
    ok(post(api, f"/jobs/{key}/tags", ["t1", "t2"]))
    ok(post(api, f"/jobs/{key}/items", 42))
    ok(post(api, f"/jobs/{key}/spider", "books"))  # the same spider: accepted
    ok(post(api, f"/jobs/{key}/nothing", None))
    data = metadata(api, key)
    assert (data["custom"], data["tags"], data["items"], data["nothing"]) == (
        {"any": ["json", 1, True]},
        ["t1", "t2"],
        42,
        None,
    )
    assert Job.objects.get(key=key).items == 42
    assert api.get(f"/jobs/{key}/custom").json() == {"any": ["json", 1, True]}


def test_setting_the_state_is_a_transition(api, project):
    key = add_job(state="finished", ts=BASE_TS)
    ok(post(api, f"/jobs/{key}/state", "deleted"))
    job = Job.objects.get(key=key)
    assert job.state == "deleted" and job.ts == job.deleted_time > BASE_TS
    assert_counts_exact()


@pytest.mark.parametrize(
    "field, value, text",
    [
        ("key", "53/1/2", "key cannot be set"),
        ("auth", "x", "auth cannot be set"),
        ("project", 54, "project 54 is not project 53"),
        ("spider", "other", "is not the spider of job"),
        ("units", 0, "units must be an integer"),
        ("finished_time", 253402300800000, "finished_time must be a time in milliseconds since 1970"),
        ("running_time", "2024-01-01", "running_time must be a time in milliseconds since 1970"),
        ("state", "bogus", "state must be one of"),
    ],
)
def test_bad_fields(api, project, field, value, text):
    key = add_job(spider="books", spider_number=1, number=1)
    assert_bad(post(api, f"/jobs/{key}/{field}", value), text, field)


def test_delete_removes_one_field(api, project):
    key = add_job(state="finished", close_reason="finished", priority=4, tags=["a"], x=1, y=2)
    ok(api.delete(f"/jobs/{key}/x"))
    ok(api.delete(f"/jobs/{key}/close_reason"))
    ok(api.delete(f"/jobs/{key}/priority"))
    ok(api.delete(f"/jobs/{key}/tags"))
    ok(api.delete(f"/jobs/{key}/absent"))
    data = metadata(api, key)
    assert "x" not in data and data["y"] == 2
    assert "close_reason" not in data
    assert (data["priority"], data["tags"]) == (2, [])


@pytest.mark.parametrize("field", ["state", "project", "spider", "key", "pending_time", "finished_time"])
def test_delete_refuses_identity_state_and_times(api, project, field):
    key = add_job(state="finished")
    assert_bad(api.delete(f"/jobs/{key}/{field}"), f"{field} cannot be removed", field)


def test_delete_without_a_field_is_405(api, project):
    key = add_job()
    response = api.delete(f"/jobs/{key}")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert Job.objects.filter(key=key).exists()


def test_unknown_job_is_404(api, project):
    add_job(spider_number=1, number=1)
    for response in [
        post(api, "/jobs/53/1/2", {"x": 1}),
        post(api, "/jobs/53/1/2/x", 1),
        api.delete("/jobs/53/1/2/x"),
        post(api, "/jobs/53/1/99999999999999999999", {"x": 1}),
    ]:
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_body_over_the_limit_is_413(api, project, settings):
    key = add_job()
    settings.JOBQ_MAX_BODY_BYTES = 20
    assert post(api, f"/jobs/{key}", {"x": "y" * 30}).status_code == 413


def test_access(api, project, other_project):
    key = add_job(x=1)
    other = add_job(project_id=54, spider="o", x=1)
    assert post(api, f"/jobs/{other}", {"x": 2}).status_code == 404
    assert api.delete(f"/jobs/{other}/x").status_code == 404
    read_only = make_key(project, read_only=True)
    api.defaults.pop("HTTP_AUTHORIZATION")
    assert api.get(f"/jobs/{key}?apikey={read_only}").status_code == 200
    assert post(api, f"/jobs/{key}?apikey={read_only}", {"x": 2}).status_code == 403
    assert post(api, f"/jobs/{key}/x?apikey={read_only}", 2).status_code == 403
    assert api.delete(f"/jobs/{key}/x?apikey={read_only}").status_code == 403
    assert post(api, f"/jobs/{key}", {"x": 2}).status_code == 401
    assert api.put(f"/jobs/{key}", b"{}").status_code == 405
    assert Job.objects.get(key=key).meta == {"x": 1}


def test_query_count(api, project, django_assert_num_queries):
    key = add_job(x=1)
    post(api, f"/jobs/{key}/x", 2)  # the key was used this minute
    # 1. the key with its project  2. savepoint  3. the job, locked
    # 4. its new metadata  5. release
    with django_assert_num_queries(5):
        ok(post(api, f"/jobs/{key}/x", 3))

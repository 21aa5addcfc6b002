"""POST /jobq/<project>/push"""

import json

import orjson
import pytest
from django.test import override_settings

from jobs.counts import remove_from_counters
from jobs.models import Job, Spider, Tag

from ..counting import assert_counts_exact
from ..factories import add_job, make_key


def post(api, path, *lines, body=None):
    """POST JSON lines without a Content-Type, as the scrapinghub client does."""
    if body is None:
        body = b"\n".join(orjson.dumps(line) for line in lines)
    return api.generic("POST", path, body, content_type="")


def push(api, *lines, body=None):
    return post(api, "/jobq/53/push", *lines, body=body)


def answers(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-jsonlines; charset=utf-8"
    assert response.content.endswith(b"\n")
    return [json.loads(line) for line in response.content.splitlines()]


def assert_bad(response, text, param=None):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] and text in body["message"], body
    assert body.get("param") == param
    return body


def test_push_answers_the_new_key(api, project):
    response = push(api, {"spider": "books"})
    assert response.content == b'{"key":"53/1/1","auth":null}\n'
    assert response["Content-Type"] == "application/x-jsonlines; charset=utf-8"
    job = Job.objects.get(key="53/1/1")
    assert job.state == "pending"
    assert job.pending_time == job.ts
    assert (job.priority, job.units, job.tags, job.meta) == (2, 1, [], {})
    assert_counts_exact()


def test_job_numbers_run_per_spider_and_new_spiders_get_the_next_id(api, project):
    keys = [answers(push(api, {"spider": name}))[0]["key"] for name in ["a", "a", "b", "a", "b"]]
    assert keys == ["53/1/1", "53/1/2", "53/2/1", "53/1/3", "53/2/2"]
    assert dict(Spider.objects.values_list("name", "number")) == {"a": 1, "b": 2}
    assert_counts_exact()


def test_job_numbers_continue_after_imported_jobs(api, project):
    add_job(spider="books", spider_number=4, number=41)
    assert answers(push(api, {"spider": "books"})) == [{"key": "53/4/42", "auth": None}]


def test_numbers_are_never_reused_after_a_delete(api, project):
    first = answers(push(api, {"spider": "books"}))[0]["key"]
    # even gone for good, as purge_jobs deletes jobs
    gone = Job.objects.filter(key=first)
    remove_from_counters(gone)
    gone.delete()
    assert answers(push(api, {"spider": "books"}))[0]["key"] == "53/1/2"


def test_custom_metadata_keeps_its_types(api, project):
    extras = {
        "text": "été ✓",
        "int": 7,
        "big": 2**63 - 1,
        "float": 1.5,
        "yes": True,
        "no": False,
        "nothing": None,
        "list": [1, "two", None, [3]],
        "nested": {"a": {"b": [1.25, {"c": None}]}},
    }
    key = answers(push(api, {"spider": "books", **extras}))[0]["key"]
    metadata = json.loads(api.get(f"/jobs/{key}").content)
    assert {name: metadata[name] for name in extras} == extras
    assert metadata["spider"] == "books" and metadata["project"] == 53


def test_priority_tags_state_and_standard_fields(api, project):
    key = answers(
        push(
            api,
            {
                "spider": "books",
                "state": "running",
                "priority": 4,
                "units": 3,
                "tags": ["nightly", "première", "nightly"],
                "spider_args": {"category": "poetry"},
                "version": "v1",
                "scheduled_by": "alice",
            },
        )
    )[0]["key"]
    job = Job.objects.get(key=key)
    assert job.state == "running"
    assert job.running_time == job.pending_time == job.ts
    assert (job.priority, job.units) == (4, 3)
    assert job.tags == ["nightly", "première"]
    assert (job.spider_args, job.version, job.scheduled_by) == ({"category": "poetry"}, "v1", "alice")
    assert set(Tag.objects.values_list("name", flat=True)) == {"nightly", "première"}
    assert api.get("/jobq/53/count?state=running").content == b"1"
    assert_counts_exact()


def test_push_finished_with_stats_gives_summary_figures(api, project):
    key = answers(
        push(
            api,
            {
                "spider": "books",
                "state": "finished",
                "close_reason": "finished",
                "scrapystats": {"item_scraped_count": 12, "log_count/ERROR": 1},
            },
        )
    )[0]["key"]
    job = Job.objects.get(key=key)
    assert (job.items, job.errors, job.close_reason) == (12, 1, "finished")
    assert job.finished_time == job.ts


def test_non_ascii_spider_name_round_trips(api, project):
    key = answers(push(api, {"spider": "livres-été"}))[0]["key"]
    assert json.loads(api.get(f"/jobs/{key}").content)["spider"] == "livres-été"
    assert api.get("/ids/53/spider/livres-été").json() == 1


def test_several_lines_answer_one_line_each(api, project):
    response = push(api, {"spider": "a"}, {"spider": "b", "tags": ["x"]}, {"spider": "a"})
    assert answers(response) == [
        {"key": "53/1/1", "auth": None},
        {"key": "53/2/1", "auth": None},
        {"key": "53/1/2", "auth": None},
    ]
    assert_counts_exact()


def test_any_content_type_is_read_as_json_lines(api, project):
    # curl -d sends a form content type; the body is still JSON lines.
    for content_type in ["application/x-www-form-urlencoded", "application/json", "text/plain"]:
        response = api.generic("POST", "/jobq/53/push", b'{"spider": "a"}', content_type=content_type)
        assert response.status_code == 200, response.content
    assert Job.objects.count() == 3


def test_blank_lines_are_skipped(api, project):
    response = push(api, body=b'\n{"spider": "a"}\n\n{"spider": "a"}\n')
    assert [a["key"] for a in answers(response)] == ["53/1/1", "53/1/2"]


def test_unique_refuses_a_second_active_job(api, project):
    assert answers(push(api, {"spider": "books", "unique": "u1"})) == [{"key": "53/1/1", "auth": None}]
    response = push(api, {"spider": "books", "unique": "u1", "foo": [1]})
    assert response.status_code == 200
    assert answers(response) == [
        {"error": "Active job exists with key u1", "request": {"spider": "books", "unique": "u1", "foo": [1]}}
    ]
    assert Job.objects.count() == 1
    # Running is still active.
    api.generic("POST", "/jobq/53/startjob", b"", content_type="")
    assert "error" in answers(push(api, {"spider": "books", "unique": "u1"}))[0]
    # A refused push used no job number; another unique value goes through.
    assert answers(push(api, {"spider": "books", "unique": "u2"}))[0]["key"] == "53/1/2"
    assert_counts_exact()


def test_unique_is_free_again_once_the_job_finished(api, project):
    push(api, {"spider": "books", "unique": "u1"})
    post(api, "/jobq/53/update", {"key": "53/1/1", "state": "finished"})
    assert answers(push(api, {"spider": "books", "unique": "u1"})) == [{"key": "53/1/2", "auth": None}]


def test_unique_is_per_project_and_duplicate_lines_in_one_body(api, project, other_project):
    make_key(project, other_project)
    add_job(project_id=54, spider="books", state="pending", unique="u1")
    response = push(
        api, {"spider": "books", "unique": "u1"}, {"spider": "books", "unique": "u1"}, {"spider": "books"}
    )
    lines = answers(response)
    assert lines[0] == {"key": "53/1/1", "auth": None}
    assert lines[1]["error"] == "Active job exists with key u1"
    assert lines[2] == {"key": "53/1/2", "auth": None}
    assert_counts_exact()


def test_unique_does_not_bind_a_job_pushed_finished(api, project):
    push(api, {"spider": "books", "unique": "u1", "state": "finished"})
    assert "key" in answers(push(api, {"spider": "books", "unique": "u1"}))[0]


@pytest.mark.parametrize(
    "body, text, param",
    [
        (b'{"spider": "books"', "line 1: not valid JSON", None),
        (
            b'{"spider": "a"}\n{"spider": "a"}\n{"spider": "a", "state": "bogus"}',
            "line 3: state must be one of",
            "state",
        ),
        (b'{"spider": "a", "x": "nul\\u0000"}', "line 1: metadata must not contain NUL", "metadata"),
        (b'{"spider": "a\\u0000"}', "line 1:", "metadata"),
        (b'{"spider": "a", "priority": "high"}', "line 1: priority must be an integer", "priority"),
        (b'{"spider": "a", "priority": 9}', "line 1: priority must be an integer from 0 to 4", "priority"),
        (b'{"spider": "a", "tags": 5}', "line 1: tags must be a list", "tags"),
        (b'{"spider": "a", "scrapystats": [1]}', "line 1: scrapystats must be a JSON object", "scrapystats"),
        (b'{"spider": "a", "n": 99999999999999999999}', "outside the 64-bit range", None),
        (b'{"spider": "a", "f": NaN}', "line 1: NaN is not valid JSON", None),
        (b'{"spider": "a", "f": -1e400}', "line 1: the number -1e400 is too large", None),
        (b'{"spider": "a", "s": "\\ud800"}', "line 1: the value cannot be stored", None),
        (b'{"spider": "\\udfff"}', "line 1: the value cannot be stored", None),
        (
            b'{"spider": "a", "deep": ' + b"[" * 260 + b"]" * 260 + b"}",
            "line 1: the value cannot be stored",
            None,
        ),
        (
            b'{"spider": "a", "deeper": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "line 1: the JSON is nested too deeply",
            None,
        ),
        # Microseconds by mistake (the example): beyond 9999-12-31.
        (
            b'{"spider": "s", "state": "finished", "finished_time": 1700000000000000}',
            "line 1: finished_time must be a time in milliseconds since 1970, from 0 (1970-01-01) "
            "to 253402300799999 (9999-12-31T23:59:59.999Z)",
            "finished_time",
        ),
        (
            b'{"spider": "a", "pending_time": 253402300800000}',
            "line 1: pending_time must be a time",
            "pending_time",
        ),
        (b'{"spider": "a", "running_time": -1}', "line 1: running_time must be a time", "running_time"),
        (b'{"spider": "a", "deleted_time": 1.5}', "line 1: deleted_time must be a time", "deleted_time"),
        (b'{"spider": "a", "finished_time": true}', "line 1: finished_time must be a time", "finished_time"),
        (b'{"priority": 1}', "line 1: spider is required", "spider"),
        (b'{"spider": 7}', "line 1: spider must be the spider's name", "spider"),
        (b'{"spider": ""}', "spider must be the spider's name", "spider"),
        (b'{"spider": "' + b"x" * 256 + b'"}', "spider must be the spider's name", "spider"),
        (b'{"spider": "a", "project": 54}', "line 1: project 54 is not project 53", "project"),
        (b'["spider"]', "line 1: a push line must be a JSON object", "metadata"),
        (b'{"spider": "a"}\n\xff\xfe', "line 2: not UTF-8", None),
        (b"", "no job", None),
        (b"\n \n", "no job", None),
    ],
)
def test_bad_lines_are_400_and_nothing_is_applied(api, project, body, text, param):
    response = push(api, body=body)
    assert_bad(response, text, param)
    assert Job.objects.count() == 0
    assert Spider.objects.count() == 0
    assert_counts_exact()


def test_times_at_both_ends_of_the_range_are_kept(api, project):
    response = push(
        api,
        {"spider": "a", "state": "finished", "pending_time": 0, "finished_time": 253402300799999},
    )
    assert response.status_code == 200, response.content
    job = Job.objects.get()
    assert (job.pending_time, job.finished_time, job.ts) == (0, 253402300799999, 253402300799999)


def test_body_over_the_limit_is_413(api, project):
    with override_settings(JOBQ_MAX_BODY_BYTES=100):
        response = push(api, {"spider": "books", "pad": "x" * 100})
        assert response.status_code == 413
        assert response.json()["error"] == "too_large"
        assert push(api, {"spider": "books"}).status_code == 200
    assert Job.objects.count() == 1


def test_access(api, project, other_project):
    client = api
    assert push(api, {"spider": "books"}).status_code == 200
    assert post(api, "/jobq/54/push", {"spider": "books"}).status_code == 404
    assert post(api, "/jobq/99/push", {"spider": "books"}).json() == post(
        api, "/jobq/54/push", {"spider": "books"}
    ).json() | {"message": "Project 99 not found."}
    assert api.get("/jobq/53/push").status_code == 405
    assert api.get("/jobq/53/push")["Allow"] == "POST"
    read_only = make_key(project, read_only=True)
    client.defaults.pop("HTTP_AUTHORIZATION")
    response = client.generic("POST", f"/jobq/53/push?apikey={read_only}", b'{"spider": "books"}')
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert client.generic("POST", "/jobq/53/push", b'{"spider": "books"}').status_code == 401
    assert Job.objects.count() == 1


def test_query_count(api, project, django_assert_num_queries):
    push(api, {"spider": "books"})  # the spider exists, the key was used this minute
    # 1. the key with its project  2. savepoint (the transaction, inside the
    # test's)  3. the spider  4. its next job number  5. the job  6-9. the
    # counters per state, per tag, per day and per day and tag  10. the tags
    # 11. release
    with django_assert_num_queries(11):
        assert push(api, {"spider": "books", "tags": ["t"]}).status_code == 200


def test_over_real_http(http, settings):
    response = http.post("/jobq/53/push", data=b'{"spider": "books", "x": "\xc3\xa9"}\n{"spider": "books"}\n')
    assert "Content-Type" not in response.request.headers
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-jsonlines; charset=utf-8"
    assert response.content == b'{"key":"53/1/1","auth":null}\n{"key":"53/1/2","auth":null}\n'
    settings.JOBQ_MAX_BODY_BYTES = 1000
    response = http.post("/jobq/53/push", data=b'{"spider": "books", "pad": "' + b"x" * 1000 + b'"}')
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert Job.objects.count() == 2

"""Body limits by route: the API's write bodies are read from the stream
with their own limits (JOBQ_MAX_BODY_BYTES, JOBQ_MAX_BODY_LINES, 413 JSON
past either); every other route keeps Django's 2.5 MB form limit."""

import orjson
import pytest
import requests
from django.conf import settings as django_settings

from jobs.models import Job

from ..counting import assert_counts_exact
from ..factories import add_job
from .test_jobq_push import answers, post, push


def lines_body(n, **extra):
    return b"\n".join(orjson.dumps({"spider": "books", **extra}) for _ in range(n))


def assert_too_large(response, text):
    assert response.status_code == 413, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "too_large" and text in body["message"], body


def test_the_defaults():
    assert django_settings.JOBQ_MAX_BODY_BYTES == 50 * 1024 * 1024
    assert django_settings.JOBQ_MAX_BODY_LINES == 10_000
    # Django's own default: the API's limit does not raise it for the pages.
    assert django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440


def test_an_api_body_beyond_djangos_form_limit_is_read(api, project):
    padding = "x" * (3 * 1024 * 1024)
    response = push(api, {"spider": "books", "padding": padding})
    assert [answer["key"] for answer in answers(response)] == ["53/1/1"]
    assert len(Job.objects.get().meta["padding"]) == len(padding)


def test_push_over_the_line_limit_is_413_and_writes_nothing(api, project, settings):
    settings.JOBQ_MAX_BODY_LINES = 5
    assert_too_large(push(api, body=lines_body(6)), "more than 5 lines")
    assert not Job.objects.exists()
    # Blank lines do not count; exactly the limit is fine.
    assert len(answers(push(api, body=b"\n\n".join([lines_body(5), b" "])))) == 5
    assert_counts_exact()


def test_update_over_the_line_limit_is_413_and_changes_nothing(api, project, settings):
    key = add_job(state="pending")
    settings.JOBQ_MAX_BODY_LINES = 2
    body = b"\n".join(
        orjson.dumps({"key": key, "state": state}) for state in ("running", "finished", "deleted")
    )
    assert_too_large(post(api, "/jobq/53/update", body=body), "more than 2 lines")
    assert Job.objects.get(key=key).state == "pending"


def test_cancel_over_the_line_limit_is_413(api, project, settings):
    keys = [add_job(state="pending") for _ in range(3)]
    settings.JOBQ_MAX_BODY_LINES = 2
    body = orjson.dumps([{"key": key} for key in keys])
    assert_too_large(post(api, "/jobq/53/cancel", body=body), "more than 2 lines")
    assert set(Job.objects.values_list("state", flat=True)) == {"pending"}


def test_bytes_over_the_limit_are_413_whatever_the_route(api, project, settings):
    key = add_job()
    settings.JOBQ_MAX_BODY_BYTES = 100
    big = {"spider": "books", "pad": "x" * 100}
    for path in ["/jobq/53/push", "/jobq/53/update", "/jobq/53/startjob", "/jobq/53/cancel", f"/jobs/{key}"]:
        assert_too_large(post(api, path, big), "larger than 100 bytes")


def test_a_page_keeps_djangos_form_limit(client, db):
    """A logged-out POST of 3 MB to a page is refused before it is parsed."""
    response = client.post("/login/", {"username": "x", "password": "y" * (3 * 1024 * 1024)})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_over_real_http(http, settings):
    settings.JOBQ_MAX_BODY_LINES = 3
    response = http.post("/jobq/53/push", data=lines_body(4))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    response = http.post("/jobq/53/push", data=lines_body(3))
    assert response.status_code == 200
    assert len(response.content.splitlines()) == 3
    # A page's form, with the CSRF token anyone gets from the login page: over 2.5 MB is a 400.
    with requests.Session() as browser:
        browser.get(f"{http.url}/login/", timeout=30)
        token = browser.cookies["csrftoken"]
        form = {"csrfmiddlewaretoken": token, "username": "x", "password": "y"}
        assert browser.post(f"{http.url}/login/", data=form, timeout=30).status_code == 200
        form["password"] = "y" * (3 * 1024 * 1024)
        assert browser.post(f"{http.url}/login/", data=form, timeout=30).status_code == 400


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 65_537, 200_000])
def test_bodies_read_in_chunks_arrive_whole(api, project, size):
    response = push(api, {"spider": "books", "pad": "x" * size})
    answers(response)
    assert len(Job.objects.get().meta["pad"]) == size

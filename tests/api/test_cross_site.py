"""No writes from another site's pages through a remembered key: API writes
carrying browser cross-site signals are refused (403), while the official
client and curl keep working."""

import orjson
import pytest
import requests

from jobs.models import Job, Spider

from ..counting import assert_counts_exact
from ..factories import add_job

EVIL = "https://evil.example"


@pytest.fixture
def job_key(project):
    return add_job(spider="books", spider_number=1, number=1, state="pending", x=1)


def writes(key):
    """(method, path, body) of every write route, each with a body it accepts."""
    push = orjson.dumps({"spider": "books"})
    return [
        ("POST", "/jobq/53/push", push),
        ("POST", "/jobq/53/startjob", b""),
        ("POST", "/jobq/53/update", orjson.dumps({"key": key, "state": "running"})),
        ("POST", "/jobq/53/cancel", orjson.dumps([{"key": key}])),
        ("POST", f"/jobq/{key}/cancel", b""),
        ("POST", f"/jobs/{key}", orjson.dumps({"y": 2})),
        ("POST", f"/jobs/{key}/y", b"2"),
        ("DELETE", f"/jobs/{key}/x", b""),
        ("GET", "/ids/53/spider/new-one?create=1", b""),
    ]


WRITES = range(9)


def snapshot():
    return (
        sorted(Job.objects.values_list("key", "state", "meta")),
        sorted(Spider.objects.values_list("name", flat=True)),
    )


def send(api, key, which, **headers):
    method, path, body = writes(key)[which]
    if "content_type" in headers:
        # Given as a header: the test client leaves it out of a request with no body.
        headers["CONTENT_TYPE"] = headers.pop("content_type")
    return api.generic(method, path, body, **headers)


def assert_refused(response, text):
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "forbidden" and text in body["message"], body


@pytest.mark.parametrize("which", WRITES)
@pytest.mark.parametrize(
    "headers, text",
    [
        ({"HTTP_ORIGIN": EVIL}, "Origin 'https://evil.example' is not this site"),
        ({"HTTP_ORIGIN": "null"}, "Origin 'null' is not this site"),
        ({"HTTP_ORIGIN": "http://testserver.evil.example"}, "is not this site"),
        ({"HTTP_ORIGIN": "http://[testserver"}, "is not this site"),
        ({"HTTP_SEC_FETCH_SITE": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        ({"HTTP_SEC_FETCH_SITE": "same-site"}, "Sec-Fetch-Site: same-site"),
        ({"content_type": "multipart/form-data; boundary=x"}, "multipart/form-data is a browser form's"),
    ],
)
def test_a_write_with_a_browser_cross_site_signal_is_refused(api, job_key, which, headers, text):
    before = snapshot()
    assert_refused(send(api, job_key, which, **headers), text)
    assert snapshot() == before
    assert_counts_exact()


@pytest.mark.parametrize("which", WRITES[:-1])  # ids?create=1 is a GET: no form body
def test_a_form_post_is_refused_even_without_origin(api, job_key, which):
    """An old browser's urlencoded form: `a=b`, or nothing at all."""
    method, path, body = writes(job_key)[which]
    before = snapshot()
    for form in (b"a=b&c=%7B%7D", b""):
        response = api.generic(method, path, form, CONTENT_TYPE="application/x-www-form-urlencoded")
        assert_refused(response, "is a browser form's")
    # A text/plain form filled so that its body reads as JSON: name={"spider":"x","a":", value="}.
    response = api.generic(method, path, (body or b"{}") + b"\r\n", CONTENT_TYPE="text/plain")
    assert_refused(response, "ending in CRLF is a browser form's")
    assert snapshot() == before


@pytest.mark.parametrize("which", WRITES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_ORIGIN": "http://testserver"},
        {"HTTP_ORIGIN": "https://testserver"},
        {"HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_SEC_FETCH_SITE": "none"},
        {"content_type": "application/json"},
        # What servers built on wsgiref (runserver) report when no type was sent.
        {"content_type": "text/plain"},
        {"content_type": "application/x-jsonlines"},
        {"HTTP_USER_AGENT": "curl/8.5.0", "HTTP_ACCEPT": "*/*"},
    ],
)
def test_writes_without_those_signals_go_through(api, job_key, which, headers):
    response = send(api, job_key, which, **headers)
    assert response.status_code == 200, response.content


def test_a_trusted_origin_goes_through(api, job_key, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://jobq-admin.example"]
    assert send(api, job_key, 0, HTTP_ORIGIN="https://jobq-admin.example").status_code == 200


def test_curl_d_with_a_json_body_goes_through(api, job_key):
    """curl -d sends application/x-www-form-urlencoded with the JSON as is."""
    for which in (0, 2, 3, 5, 6):
        method, path, body = writes(job_key)[which]
        if which == 6:
            body = b'"v2"'
        response = api.generic(method, path, body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200, (path, response.content)


def test_reads_are_not_affected(api, job_key):
    for path in ["/jobq/53/count", "/jobq/53/list", f"/jobs/{job_key}", "/ids/53/spider/books"]:
        response = api.get(path, HTTP_ORIGIN=EVIL, HTTP_SEC_FETCH_SITE="cross-site")
        assert response.status_code == 200, path


def test_refused_before_the_key_is_asked_for(client, job_key):
    """Another site's page gets no Basic-auth prompt to show."""
    response = client.generic("POST", "/jobq/53/push", b'{"spider": "a"}', HTTP_ORIGIN=EVIL)
    assert_refused(response, "is not this site")
    assert "WWW-Authenticate" not in response


def test_the_official_client_keeps_writing(shub, job_key):
    hsproject = shub._hsclient.get_project(53)
    pushed = hsproject.push_job("books", tags=["t"]).key
    started = hsproject.jobq.start(started_by="worker")
    assert started["key"] == job_key
    job = shub.get_job(pushed)
    job.update(state="running", note="n")
    job.metadata.set("extra", {"a": 1})
    job.metadata.update({"more": 2})
    job.metadata.delete("more")
    job.cancel()
    assert shub.get_project(53).jobs.cancel(keys=[job_key])["count"] == 1
    assert hsproject.ids.spider("fresh", create=1) == 2
    assert Job.objects.get(key=pushed).meta == {"note": "n", "extra": {"a": 1}, "cancelled_by": "test"}
    assert Job.objects.get(key=job_key).state == "running"
    assert_counts_exact()


def test_over_real_http(http, live, apikey, job_key):
    # curl-style: no content type, no browser headers.
    assert http.post("/jobq/53/push", data=b'{"spider": "books"}').status_code == 200
    # curl -d: a form content type with the JSON as is.
    response = http.post(
        "/jobq/53/push",
        data=b'{"spider": "books"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    # A browser on another site, with the key it remembers.
    for headers, body in [
        ({"Origin": EVIL}, b'{"spider": "books"}'),
        ({"Sec-Fetch-Site": "cross-site"}, b'{"spider": "books"}'),
        ({"Content-Type": "text/plain"}, b'{"spider": "books", "a": "="}\r\n'),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"spider=books"),
    ]:
        response = requests.post(
            f"{live.url}/jobq/53/push", data=body, headers=headers, auth=(apikey, ""), timeout=30
        )
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    assert Job.objects.count() == 3

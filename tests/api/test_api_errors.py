"""Django's own error answers under the API's paths (/jobq/, /jobs/, /ids/)
take the JobQ error shape; the pages keep their HTML ones."""

import pytest
import requests
from django.test import Client, override_settings

PREFIXES = ["jobq", "jobs", "ids"]
TOO_MANY = "&".join(f"p{i}=1" for i in range(1001))


def assert_json_error(response, status, error, text=""):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert text in body["message"]
    return body


def test_more_than_1000_query_parameters_is_a_json_400(api, project):
    body = assert_json_error(
        api.get(f"/jobq/53/count?{TOO_MANY}"), 400, "invalid_parameter", "more than 1000 parameters"
    )
    assert "param" not in body
    # A thousand is still fine (each unknown parameter is ignored, as JobQ does).
    fine = "&".join(f"p{i}=1" for i in range(999))
    assert api.get(f"/jobq/53/count?{fine}").status_code == 200


def test_the_request_log_notes_too_many_parameters_without_failing(api, project, caplog):
    caplog.set_level("INFO", logger="jobq.requests")
    assert api.get(f"/jobq/53/count?{TOO_MANY}").status_code == 400
    (line,) = [record.getMessage() for record in caplog.records if record.name == "jobq.requests"]
    assert "status=400" in line and 'query="(too many parameters)"' in line


def test_more_than_1000_query_parameters_on_a_page_stays_html(admin_client, project):
    response = admin_client.get(f"/p/53/?{TOO_MANY}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_too_many_parameters_over_real_http(http):
    response = requests.get(f"{http.url}/jobq/53/count?{TOO_MANY}", timeout=30)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter"
    response = http.get(f"/jobq/53/list?{TOO_MANY}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter"


@pytest.mark.parametrize("path", ["/jobq/53/count", "/jobs/53/1/1", "/ids/53/spider/books", "/jobq/53/nope"])
def test_a_host_not_allowed_is_a_json_400(api, project, path):
    assert_json_error(api.get(path, HTTP_HOST="evil.example"), 400, "bad_request", "Host header")


def test_a_host_not_allowed_on_a_page_stays_html(client, db):
    response = client.get("/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "path", ["/jobq/53/nope", "/jobq/", "/jobs/53/1", "/jobs/x/1/1", "/ids/53", "/ids/53/spider/a/b"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_paths_are_a_json_404(api, project, path, method):
    assert_json_error(api.generic(method, path), 404, "not_found")


def test_unknown_page_stays_html(admin_client):
    response = admin_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/jobq/53/count", "/jobq/53/push", "/jobs/53/1/1", "/ids/53/spider/a"])
def test_a_method_not_taken_is_a_json_405(api, project, path):
    response = api.generic("PUT", path)
    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"]


@override_settings(ROOT_URLCONF="tests.api.error_urls")
@pytest.mark.parametrize("prefix", PREFIXES)
def test_permission_denied_is_a_json_403(client, db, prefix):
    assert_json_error(client.get(f"/{prefix}/test-only/denied"), 403, "forbidden", "No entry.")


@override_settings(ROOT_URLCONF="tests.api.error_urls")
@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_csrf_refusal_is_a_json_403(db, prefix):
    client = Client(enforce_csrf_checks=True)
    assert_json_error(client.post(f"/{prefix}/test-only/form", {"a": "1"}), 403, "forbidden", "CSRF")


@override_settings(ROOT_URLCONF="tests.api.error_urls")
@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_bug_is_a_json_500(client, db, prefix):
    client.raise_request_exception = False
    assert_json_error(client.get(f"/{prefix}/test-only/broken"), 500, "server_error")


@override_settings(ROOT_URLCONF="tests.api.error_urls", DATA_UPLOAD_MAX_MEMORY_SIZE=100)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_form_over_djangos_limit_is_a_json_413(client, db, prefix):
    assert_json_error(client.post(f"/{prefix}/test-only/form", {"a": "x" * 200}), 413, "too_large")


@override_settings(ROOT_URLCONF="tests.api.error_urls", DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_pages_keep_djangos_html_errors(db):
    client = Client(enforce_csrf_checks=True)
    client.raise_request_exception = False
    for response, status in [
        (client.get("/p/test-only/denied"), 403),
        (client.post("/p/test-only/form", {"a": "1"}), 403),
        (client.get("/p/test-only/broken"), 500),
    ]:
        assert response.status_code == status
        assert response["Content-Type"].startswith("text/html")
    response = Client().post("/p/test-only/form", {"a": "x" * 200})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")

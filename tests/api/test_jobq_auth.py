"""Authentication, project scopes and the error table, on every read route."""

import base64

import pytest
from django.utils import timezone

from jobs.models import ApiKey

from ..factories import add_job, make_key, make_project

READ_ROUTES = [
    "/jobq/53/count",
    "/jobq/53/list",
    "/jobq/53/summary",
    "/jobq/53/summary/running",
    "/jobq/53/1/summary/finished",
    "/jobq/53/jobsummary?key=53/1/1",
    "/jobs/53/1/1",
    "/jobs/53/1/1/state",
    "/ids/53/spider/books",
]
UNAUTHORIZED = {"error": "Unauthorized", "message": "Unauthorized"}


def basic(key):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def job(project):
    return add_job(spider="books", spider_number=1, number=1)


@pytest.mark.parametrize("route", READ_ROUTES)
def test_no_key_is_401_with_the_basic_challenge(client, job, route):
    response = client.get(route)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="apikey"'
    assert response["Content-Type"] == "application/json"
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize("route", READ_ROUTES)
def test_basic_auth_and_apikey_parameter(client, apikey, job, route):
    assert client.get(route, **basic(apikey)).status_code == 200
    sep = "&" if "?" in route else "?"
    assert client.get(f"{route}{sep}apikey={apikey}").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        basic("0" * 32),
        {"HTTP_AUTHORIZATION": "Basic !!!notbase64"},
        {"HTTP_AUTHORIZATION": "Bearer something"},
        basic(""),
    ],
)
def test_wrong_credentials_are_401(client, job, headers):
    response = client.get("/jobq/53/count", **headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_revoked_key_is_401(client, apikey, job):
    ApiKey.objects.update(revoked_at=timezone.now())
    assert client.get("/jobq/53/count", **basic(apikey)).status_code == 401


def test_key_is_stored_only_as_a_digest(apikey):
    stored = ApiKey.objects.get()
    assert apikey not in {stored.digest, stored.prefix, stored.name}
    assert len(apikey) == 32 and stored.prefix == apikey[:8]


def test_last_use_is_recorded(client, apikey, job):
    assert ApiKey.objects.get().last_used_at is None
    client.get("/jobq/53/count", **basic(apikey))
    assert ApiKey.objects.get().last_used_at is not None


@pytest.mark.parametrize("route", READ_ROUTES)
def test_foreign_project_answers_exactly_like_a_missing_one(client, job, route):
    make_project(54)
    add_job(project_id=54, spider="books", spider_number=1, number=1)
    outsider = make_key(make_project(60))
    foreign = client.get(route, **basic(outsider))
    missing = client.get(route.replace("53", "999", 1), **basic(outsider))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"] == missing.json()["error"] == "not_found"
    assert foreign.json()["message"].replace("53", "N") == missing.json()["message"].replace("999", "N")


def test_key_for_several_projects(client, job):
    key = make_key(make_project(53), make_project(54))
    assert client.get("/jobq/54/count", **basic(key)).status_code == 200
    assert client.get("/jobq/53/count", **basic(key)).content == b"1"


def test_huge_project_id_is_404_not_500(api, job):
    assert api.get("/jobq/99999999999999999999999/count").status_code == 404
    assert api.get("/jobs/53/99999999999999999999999/1").status_code == 404


@pytest.mark.parametrize(
    "route", ["/jobq/53/count", "/jobq/53/list", "/jobq/53/summary", "/jobs/53/1/1/state"]
)
def test_wrong_method_is_405_with_allow(api, job, route):
    response = api.put(route)
    assert response.status_code == 405
    assert "GET" in response["Allow"]
    assert response.json()["error"] == "method_not_allowed"


def test_unknown_api_route_is_a_json_404(api, job):
    response = api.get("/jobq/53/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


def test_trailing_slash_is_not_a_route(api, job):
    assert api.get("/jobq/53/count/").status_code == 404


def test_throttled_key_gets_429_with_retry_after(api, job, settings):
    from django.core.cache import cache

    cache.clear()
    settings.JOBQ_RATE_LIMIT = (3, 3600)
    assert [api.get("/jobq/53/count").status_code for _ in range(3)] == [200] * 3
    response = api.get("/jobq/53/count")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"] == "throttled"
    # other keys have their own allowance
    assert (
        api.get(f"/jobq/53/count?apikey={make_key(make_project(53))}", HTTP_AUTHORIZATION="").status_code
        == 200
    )


def test_a_persons_key_follows_their_membership(client, job):
    from django.contrib.auth import get_user_model

    from jobs.models import Membership

    project = make_project(53)
    user = get_user_model().objects.create_user("bob")
    membership = Membership.objects.create(project=project, user=user)
    key = ApiKey.generate(projects=[project], user=user)[1]
    assert client.get("/jobq/53/count", **basic(key)).status_code == 200
    membership.delete()
    assert client.get("/jobq/53/count", **basic(key)).status_code == 404
    # Staff is the right to use the admin: a staff member's key still stops at their projects.
    user.is_staff = True
    user.save()
    assert client.get("/jobq/53/count", **basic(key)).status_code == 404
    user.is_superuser = True
    user.save()
    assert client.get("/jobq/53/count", **basic(key)).status_code == 200
    user.is_active = False
    user.save()
    assert client.get("/jobq/53/count", **basic(key)).status_code == 401

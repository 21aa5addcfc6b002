"""Inline tag editing on the job detail page: POST /p/<project>/job/<s>/<j>/tags/."""

import pytest
from django.test import Client

from jobs.models import Job, Tag

from ..factories import add_job

URL = "/p/53/job/1/7/tags/"
HTMX = {"HX-Request": "true", "HX-Target": "tags"}


@pytest.fixture
def job(project):
    add_job(number=7, tags=["old"])
    return Job.objects.get(key="53/1/7")


def tags_of(job):
    job.refresh_from_db()
    return job.tags


def test_member_adds_a_tag_with_htmx_and_gets_the_partial(client, member, job):
    client.force_login(member)
    response = client.post(URL, {"action": "add", "tag": "fresh"}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="tags"') and "<html" not in html
    assert "fresh" in html and "Tag fresh added." in html
    assert tags_of(job) == ["old", "fresh"]
    # the project's tag list (autocomplete) learned it
    assert Tag.objects.filter(project_id=53, name="fresh").exists()


def test_owner_removes_a_tag_without_javascript(client, owner, job):
    client.force_login(owner)
    response = client.post(URL, {"action": "remove", "tag": "old"})
    assert response.status_code == 302 and response["Location"] == "/p/53/job/1/7/"
    assert tags_of(job) == []
    page = client.get(response["Location"]).content.decode()
    assert "Tag old removed." in page and "No tags yet." in page


def test_superusers_may_tag(client, superuser, job):
    client.force_login(superuser)
    assert client.post(URL, {"action": "add", "tag": "x"}).status_code == 302
    assert tags_of(job) == ["old", "x"]


def test_outsider_and_anonymous_change_nothing(client, outsider, job):
    assert client.post(URL, {"action": "add", "tag": "x"})["Location"].startswith("/login/")
    client.force_login(outsider)
    assert client.post(URL, {"action": "add", "tag": "x"}, headers=HTMX).status_code == 404
    assert tags_of(job) == ["old"]


def test_get_is_not_allowed(client, owner, job):
    client.force_login(owner)
    assert client.get(URL).status_code == 405


@pytest.mark.parametrize("tag", ["", "   ", "x" * 256, "a\x00b"])
def test_bad_tags_are_refused_and_said(client, owner, job, tag):
    client.force_login(owner)
    response = client.post(URL, {"action": "add", "tag": tag}, headers=HTMX)
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert tags_of(job) == ["old"]
    response = client.post(URL, {"action": "add", "tag": tag})
    assert response.status_code == 302
    assert "The tag was not changed." in client.get(response["Location"]).content.decode()


def test_adding_an_existing_tag_keeps_one(client, owner, job):
    client.force_login(owner)
    client.post(URL, {"action": "add", "tag": "old"}, headers=HTMX)
    assert tags_of(job) == ["old"]


def test_csrf_is_enforced(owner, job):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(URL, {"action": "add", "tag": "x"}, headers=HTMX).status_code == 403
    assert tags_of(job) == ["old"]
    # with the token from the page (as base.html's hx-headers sends it), it works
    client.get("/p/53/job/1/7/")
    token = client.cookies["csrftoken"].value
    response = client.post(URL, {"action": "add", "tag": "x"}, headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200
    assert tags_of(job) == ["old", "x"]


def test_query_count(client, owner, job, django_assert_num_queries):
    client.force_login(owner)
    # session, user, project access, job; the lifecycle's transaction
    # (savepoint, locked read, update, tag counters' upserts per tag and per
    # day and tag, Tag upsert, release); then re-reading the tags for the partial
    with django_assert_num_queries(12):
        client.post(URL, {"action": "add", "tag": "fresh"}, headers=HTMX)


def test_a_tag_with_spaces_from_the_api_can_be_removed(client, owner, project):
    add_job(number=8, tags=[" padded ", "x"])
    client.force_login(owner)
    client.post("/p/53/job/1/8/tags/", {"action": "remove", "tag": " padded "}, headers=HTMX)
    assert Job.objects.get(key="53/1/8").tags == ["x"]
    # while a typed tag loses its spaces
    client.post("/p/53/job/1/8/tags/", {"action": "add", "tag": "  new  "}, headers=HTMX)
    assert Job.objects.get(key="53/1/8").tags == ["x", "new"]

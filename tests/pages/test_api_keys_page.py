"""The API keys page: /keys/ (create, shown once) and /keys/<id>/revoke/."""

import base64
import re
import secrets

import pytest
from django.test import Client

from jobs.models import ApiKey, Membership, digest_of

URL = "/keys/"


def basic(raw):
    return {"Authorization": "Basic " + base64.b64encode(f"{raw}:".encode()).decode()}


def create(client, **data):
    data = {"name": "nightly export", "projects": ["53"], "form_token": secrets.token_hex(8), **data}
    return client.post(URL, data)


def raw_key_in(response):
    html = response.content.decode()
    marker = 'class="key-value" value="'
    start = html.index(marker) + len(marker)
    return html[start : start + 32]


def test_member_creates_a_key_shown_once_and_stored_as_a_digest(client, member):
    client.force_login(member)
    response = create(client)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = raw_key_in(response)
    assert "shown this once" in response.content.decode()
    key = ApiKey.objects.get()
    assert key.user == member and key.name == "nightly export" and not key.read_only
    assert list(key.projects.values_list("pk", flat=True)) == [53]
    # only the digest is stored, the raw key nowhere
    assert key.digest == digest_of(raw) and key.prefix == raw[:8]
    assert raw not in str([getattr(key, f.attname) for f in ApiKey._meta.fields])
    # never shown again
    page = client.get(URL).content.decode()
    assert raw not in page and f"{raw[:8]}…" in page and "nightly export" in page
    # and it works on the API
    assert client.get("/jobq/53/count", headers=basic(raw)).status_code == 200


def test_read_only_key(client, owner):
    client.force_login(owner)
    raw = raw_key_in(create(client, read_only="on"))
    assert ApiKey.objects.get().read_only
    response = client.post("/jobq/53/push", b'{"spider": "books"}', content_type="", headers=basic(raw))
    assert response.status_code == 403


def test_only_ones_own_projects(client, member, other_project):
    client.force_login(member)
    page = client.get(URL).content.decode()
    assert 'value="53"' in page and 'value="54"' not in page
    response = create(client, projects=["54"])
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    response = create(client, projects=[])
    assert response.status_code == 400 and "Choose at least one project." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_superusers_may_create_keys_for_any_project(client, superuser, project, other_project):
    client.force_login(superuser)
    create(client, projects=["53", "54"])
    assert sorted(ApiKey.objects.get().projects.values_list("pk", flat=True)) == [53, 54]


def test_staff_create_keys_only_for_their_projects(client, staff, project, other_project):
    Membership.objects.create(project=project, user=staff)
    client.force_login(staff)
    response = create(client, projects=["53", "54"])
    assert response.status_code == 400 and not ApiKey.objects.exists()
    create(client, projects=["53"])
    assert list(ApiKey.objects.get().projects.values_list("pk", flat=True)) == [53]


def test_revoke_own_key_without_javascript(client, member):
    client.force_login(member)
    raw = raw_key_in(create(client))
    key = ApiKey.objects.get()
    response = client.post(f"/keys/{key.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == URL
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get("/jobq/53/count", headers=basic(raw)).status_code == 401
    page = client.get(URL).content.decode()
    assert "is revoked" in page and "Revoked" in page
    # revoking again changes nothing
    revoked_at = key.revoked_at
    client.post(f"/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at == revoked_at


def test_revoke_with_htmx_gets_the_row(client, member):
    client.force_login(member)
    create(client)
    key = ApiKey.objects.get()
    response = client.post(f"/keys/{key.pk}/revoke/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith(f'<tr id="key-{key.pk}" class="revoked"')


def test_nobody_revokes_someone_elses_key(client, owner, member, superuser):
    client.force_login(owner)
    create(client)
    key = ApiKey.objects.get()
    for user in (member, superuser):
        client.force_login(user)
        assert client.post(f"/keys/{key.pk}/revoke/").status_code == 404
        assert str(key.prefix) not in client.get(URL).content.decode()
    assert client.post("/keys/99999999999999999999999/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_anonymous_goes_to_login(client, db):
    assert client.get(URL)["Location"].startswith("/login/")
    assert client.post("/keys/1/revoke/")["Location"].startswith("/login/")


def test_outsider_page_offers_only_their_project(client, outsider, project):
    client.force_login(outsider)
    page = client.get(URL).content.decode()
    assert 'value="54"' in page and 'value="53"' not in page


def test_user_without_projects(client, django_user_model):
    user = django_user_model.objects.create_user("lonely")
    client.force_login(user)
    assert "nothing a key could reach" in client.get(URL).content.decode()


def test_preselected_project(client, member):
    client.force_login(member)
    assert 'value="53" checked' in client.get(URL + "?project=53").content.decode().replace(
        'id="id_projects_0" ', ""
    )


def test_csrf_is_enforced(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert create(client).status_code == 403
    assert not ApiKey.objects.exists()


def test_query_count(client, member, django_assert_num_queries):
    client.force_login(member)
    for name in ("a", "b", "c"):
        create(client, name=name)
    # session, user, the keys, their projects (one prefetch), whether the
    # user has projects, the project choices
    with django_assert_num_queries(6):
        assert client.get(URL).status_code == 200


@pytest.mark.parametrize("name", ["", "x" * 101])
def test_bad_name(client, member, name):
    client.force_login(member)
    assert create(client, name=name).status_code == 400
    assert not ApiKey.objects.exists()


def test_posting_the_same_form_twice_creates_one_key(client, member):
    """A reload of the page that showed the key re-posts the form."""
    client.force_login(member)
    token = re.search(r'name="form_token" value="([^"]+)"', client.get(URL).content.decode())[1]
    assert create(client, form_token=token).status_code == 200
    again = create(client, form_token=token)
    assert again.status_code == 302 and again["Location"] == URL
    assert ApiKey.objects.count() == 1
    page = client.get(URL).content.decode()
    assert "already sent" in page and "key-value" not in page
    # a form without its token creates nothing either
    assert create(client, form_token="").status_code == 302
    assert ApiKey.objects.count() == 1


def test_revoke_needs_csrf_and_costs_few_queries(member, django_assert_num_queries):
    key, _ = ApiKey.generate(projects=[53], name="k", user=member)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post(f"/keys/{key.pk}/revoke/").status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    client.get(URL)
    token = client.cookies["csrftoken"].value
    # session, user, the key, its update, the row's projects
    with django_assert_num_queries(5):
        response = client.post(
            f"/keys/{key.pk}/revoke/", headers={"X-CSRFToken": token, "HX-Request": "true"}
        )
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_project_id_past_64_bits_is_a_form_error(client, owner):
    client.force_login(owner)
    for value in (str(2**64), "²", "-1", "a\x00b"):
        response = create(client, projects=[value])
        assert response.status_code == 400, value
        assert "is not a valid value" in response.content.decode()
    assert not ApiKey.objects.exists()

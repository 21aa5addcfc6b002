"""manage.py create_api_key"""

import io

import pytest
from django.core.management import CommandError, call_command

from jobs.models import ApiKey, Project


def create(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


@pytest.mark.django_db
def test_creates_projects_and_prints_the_key_last(client):
    key, note = create("--project", "53", "--project", "54", "--name", "ci")
    assert set(Project.objects.values_list("pk", flat=True)) == {53, 54}
    assert len(key) == 32 and "shown only now" in note
    stored = ApiKey.objects.get()
    assert stored.name == "ci" and not stored.read_only
    assert key not in stored.digest
    assert client.get(f"/jobq/54/count?apikey={key}").content == b"0"


@pytest.mark.django_db
def test_read_only(client):
    key, note = create("--project", "53", "--read-only")
    assert ApiKey.objects.get().read_only and "read-only" in note
    assert client.get(f"/ids/53/spider/x?create=1&apikey={key}").status_code == 403


@pytest.mark.django_db
def test_bad_project():
    with pytest.raises(CommandError):
        create("--project", "0")

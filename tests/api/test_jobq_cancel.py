"""POST /jobq/<project>/cancel and POST /jobq/<project>/<spider>/<job>/cancel"""

import orjson
import pytest

from jobs.models import ApiKey, Job, Membership

from ..counting import assert_counts_exact
from ..factories import BASE_TS, add_job, make_key
from .test_jobq_push import assert_bad


def cancel(api, body):
    return api.generic("POST", "/jobq/53/cancel", body, content_type="")


def test_pending_jobs_finish_cancelled_and_running_jobs_are_marked(api, project):
    pending = add_job(state="pending", ts=BASE_TS)
    running = add_job(state="running", ts=BASE_TS)
    finished = add_job(state="finished", ts=BASE_TS)
    body = orjson.dumps([{"key": str(key)} for key in (pending, running, finished, "53/1/999")])

    response = cancel(api, body)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"count": 2}
    job = Job.objects.get(key=pending)
    assert (job.state, job.close_reason, job.meta) == ("finished", "cancelled", {"cancelled_by": "test"})
    assert job.ts == job.finished_time > BASE_TS
    job = Job.objects.get(key=running)
    assert (job.state, job.ts, job.close_reason) == ("running", BASE_TS, None)
    assert job.meta == {"cancelled_by": "test"}
    assert Job.objects.get(key=finished).meta == {}
    assert_counts_exact()


def test_one_job(api, project):
    key = add_job(spider_number=1, number=5, state="pending")
    response = api.generic("POST", "/jobq/53/1/5/cancel")
    assert response.status_code == 200 and response.json() == {"count": 1}
    assert Job.objects.get(key=key).close_reason == "cancelled"
    # Already finished, or unknown: nothing to cancel.
    assert api.generic("POST", "/jobq/53/1/5/cancel").json() == {"count": 0}
    assert api.generic("POST", "/jobq/53/1/6/cancel").json() == {"count": 0}
    assert api.generic("POST", "/jobq/53/1/99999999999999999999/cancel").json() == {"count": 0}
    assert api.get("/jobq/53/1/5/cancel").status_code == 405
    assert_counts_exact()


def test_cancelled_by_names_the_user_or_the_key(api, project, django_user_model):
    user = django_user_model.objects.create_user("john")
    # A person's key reaches only the projects the person is a member of.
    Membership.objects.create(project=project, user=user)
    a = add_job(state="running")
    b = add_job(state="running")
    by_user = ApiKey.generate(projects=[project], user=user)[1]
    nameless = ApiKey.generate(projects=[project])
    api.defaults.pop("HTTP_AUTHORIZATION")
    api.generic("POST", f"/jobq/53/cancel?apikey={by_user}", f'[{{"key": "{a}"}}]')
    api.generic("POST", f"/jobq/53/cancel?apikey={nameless[1]}", f'[{{"key": "{b}"}}]')
    assert Job.objects.get(key=a).meta["cancelled_by"] == "john"
    assert Job.objects.get(key=b).meta["cancelled_by"] == f"key {nameless[0].prefix}"


def test_a_cancelled_unique_job_frees_its_value(api, project):
    key = add_job(state="pending", unique="u")
    cancel(api, f'[{{"key": "{key}"}}]'.encode())
    response = api.generic("POST", "/jobq/53/push", b'{"spider": "books", "unique": "u"}')
    assert response.content.startswith(b'{"key":')


@pytest.mark.parametrize(
    "body, text",
    [
        (b'{"key": "53/1/1"}', "JSON array"),
        (b"[", "not valid JSON"),
        (b"", "empty"),
        (b'[{"key": "53/1/1"}, {"key": "nope"}]', "item 2: 'nope' is not a job key"),
        (b'[{"nokey": 1}]', "item 1:"),
        (b'[{"key": "54/1/1"}]', "item 1: 54/1/1 is not in project 53"),
        (b'[{"key": 5}]', "item 1:"),
    ],
)
def test_bad_bodies_cancel_nothing(api, project, body, text):
    key = add_job(spider_number=1, number=1, state="pending")
    response = cancel(api, body)
    assert_bad(response, text, "key" if "item" in text or "array" in text else None)
    assert Job.objects.get(key=key).state == "pending"


def test_cancel_by_count_is_not_offered(api, project):
    add_job(state="pending")
    response = api.generic("POST", "/jobq/53/cancel?count=10")
    assert response.status_code == 403
    assert Job.objects.get().state == "pending"


def test_access(api, project, other_project):
    key = add_job(spider_number=1, number=1, state="pending")
    assert api.generic("POST", "/jobq/54/cancel", b'[{"key": "54/1/1"}]').status_code == 404
    assert api.generic("POST", "/jobq/54/1/1/cancel").status_code == 404
    read_only = make_key(project, read_only=True)
    api.defaults.pop("HTTP_AUTHORIZATION")
    body = f'[{{"key": "{key}"}}]'
    assert api.generic("POST", f"/jobq/53/cancel?apikey={read_only}", body).status_code == 403
    assert api.generic("POST", f"/jobq/53/1/1/cancel?apikey={read_only}").status_code == 403
    assert api.generic("POST", "/jobq/53/1/1/cancel").status_code == 401
    assert Job.objects.get(key=key).state == "pending"

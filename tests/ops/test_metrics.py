"""/metrics: Prometheus' text format, open only to METRICS_TOKEN or
METRICS_ALLOWED_ADDRESSES; requests by route and status, latency, jobs by
project and state from the counters, the pending queue, database errors; and
added up over the workers of the production server."""

import ipaddress

import orjson
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from jobs.models import JobCount

from ..factories import add_jobs, job_line, make_project
from .servers import local_environment, manage, new_key, prepare_var_dir

pytestmark = pytest.mark.django_db
TOKEN = "a-scrape-token-of-enough-length"


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **extra):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(response.content.decode())


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_ADDRESSES = []


def test_closed_without_the_token_or_a_listed_address(client, token, settings):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token-of-some-length").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    # A forwarded address proves nothing without a trusted proxy.
    settings.METRICS_ALLOWED_ADDRESSES = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.1.1").status_code == 403
    assert "jobq_" not in client.get("/metrics").content.decode()


def test_open_to_listed_addresses(client, token, settings):
    settings.METRICS_ALLOWED_ADDRESSES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1")]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="11.0.0.1").status_code == 403
    settings.JOBQ_TRUSTED_PROXIES = 1
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 200


def test_answers_any_host_name_and_only_get(client, token):
    # Prometheus scrapes by address; ALLOWED_HOSTS has no say here.
    assert (
        client.get("/metrics", HTTP_HOST="10.0.0.7:8000", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code
        == 200
    )
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"


def test_requests_by_route_and_status_and_their_latency(api, client, token, project):
    route = "jobq/<id:project_id>/count"
    before = scrape(client)
    ok = frozenset({"route": route, "method": "GET", "status": "200"}.items())
    missing = frozenset({"route": route, "method": "GET", "status": "404"}.items())
    for _ in range(3):
        assert api.get("/jobq/53/count").status_code == 200
    assert api.get("/jobq/999/count").status_code == 404

    after = scrape(client)
    assert after[("jobq_http_requests_total", ok)] - before.get(("jobq_http_requests_total", ok), 0) == 3
    assert (
        after[("jobq_http_requests_total", missing)] - before.get(("jobq_http_requests_total", missing), 0)
        == 1
    )
    count = frozenset({"route": route, "method": "GET"}.items())
    observed = after[("jobq_http_request_duration_seconds_count", count)]
    assert observed - before.get(("jobq_http_request_duration_seconds_count", count), 0) == 4
    bucket = frozenset({"route": route, "method": "GET", "le": "+Inf"}.items())
    assert after[("jobq_http_request_duration_seconds_bucket", bucket)] == observed


def test_jobs_by_project_and_state_and_the_pending_queue(
    client, token, project, django_assert_max_num_queries
):
    make_project(54, "other")
    add_jobs(
        *[job_line(number=n, state="finished") for n in range(1, 6)],
        job_line(number=6, state="pending", ts=1_000_000_000_000),
        job_line(number=7, state="pending"),
        job_line(project_id=54, number=8, state="running"),
    )
    # The counters, and the oldest pending job per project.
    with django_assert_max_num_queries(2):
        found = scrape(client)

    def gauge(name, **labels):
        return found[(name, frozenset(labels.items()))]

    assert gauge("jobq_jobs", project="53", state="finished") == 5
    assert gauge("jobq_jobs", project="53", state="pending") == 2
    assert gauge("jobq_jobs", project="54", state="running") == 1
    assert gauge("jobq_pending_jobs", project="53") == 2
    # The oldest pending job of 53 was pushed in 2001.
    assert gauge("jobq_oldest_pending_job_age_seconds", project="53") > 20 * 365 * 24 * 3600
    assert ("jobq_oldest_pending_job_age_seconds", frozenset({"project": "54"}.items())) not in found
    assert gauge("jobq_database_up", alias="default") == 1
    totals = {(c.project_id, c.state): c.n for c in JobCount.objects.all()}
    assert totals[(53, "finished")] == 5


def test_metrics_of_every_worker_are_added_up(tmp_path, migrated_sqlite, servers):
    """Two gunicorn workers: whichever answers the scrape reports every worker's requests."""
    var = prepare_var_dir(migrated_sqlite, tmp_path / "var")
    env = local_environment(var, METRICS_TOKEN=TOKEN)
    key = new_key(env, 53)
    manage(env, "import_jobs", "-", stdin=orjson.dumps(job_line(number=1)).decode())
    server = servers(env, tmp_path / "server.log", workers=2)

    for _ in range(20):
        # A new connection each time, so both workers take some.
        assert requests.get(f"{server.url}/jobq/53/count", auth=(key, "")).json() == 1
    for _ in range(4):
        scraped = samples(
            requests.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        )
        labels = frozenset({"route": "jobq/<id:project_id>/count", "method": "GET", "status": "200"}.items())
        assert scraped[("jobq_http_requests_total", labels)] == 20
        assert scraped[("jobq_jobs", frozenset({"project": "53", "state": "finished"}.items()))] == 1

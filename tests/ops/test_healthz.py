"""/healthz: 200 when the database answers and every migration is applied,
503 naming the failed check otherwise; answered before host checks and the
HTTPS redirect, for load balancers that probe by address over HTTP."""

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .servers import free_port, local_environment, manage

pytestmark = pytest.mark.django_db


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "cache": "ok"},
    }
    assert response["Cache-Control"] == "no-store"


def test_answers_by_address_over_http_even_behind_https_settings(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["jobq.example.com"]
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    # Everything else is still redirected to HTTPS, or refused for its host.
    assert client.get("/login/", HTTP_HOST="jobq.example.com").status_code == 301
    assert client.get("/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_head_has_no_body(client):
    response = client.head("/healthz")
    assert response.status_code == 200
    assert response.content == b""


def test_unmigrated_database_fails_until_migrated(tmp_path, servers):
    env = local_environment(tmp_path)
    server = servers(env, tmp_path / "server.log")

    response = requests.get(f"{server.url}/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["migrations"].endswith("not applied")

    manage(env, "migrate", "--no-input", "-v", "0")
    assert requests.get(f"{server.url}/healthz").json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "cache": "ok"},
    }


def test_unreachable_database_fails_and_is_counted(tmp_path, servers):
    env = local_environment(
        tmp_path, DATABASE_URL=f"postgres://root@127.0.0.1:{free_port()}/gone", METRICS_TOKEN="t" * 20
    )
    server = servers(env, tmp_path / "server.log")

    response = requests.get(f"{server.url}/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "failing",
        "checks": {"database": "unreachable", "migrations": "unknown", "cache": "ok"},
    }
    assert requests.get(f"{server.url}/jobq/53/count", auth=("k" * 32, "")).status_code == 503

    text = requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer " + "t" * 20}).text
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert found[("jobq_database_up", (("alias", "default"),))] == 0
    assert found[("jobq_database_errors_total", (("error", "OperationalError"),))] == 1

"""Prometheus metrics: what the requests did, and what the job store holds.

Request counters and latency histograms are kept by the process that served
the request; under the production server every worker writes them to
PROMETHEUS_MULTIPROC_DIR (set by jobqsite/gunicorn.conf.py) and a scrape
adds them up. The job figures are read from the exact counters when scraped,
so they cost one small query whatever the number of jobs.

/metrics answers only METRICS_TOKEN (as a bearer token) or a client in
METRICS_ALLOWED_ADDRESSES; anyone else gets a 403 that reveals nothing.
"""

import hmac
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import Min, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from .clients import client_address

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "jobq_http_requests",
    "HTTP requests answered, by route, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "jobq_http_request_duration_seconds",
    "Time from the request to the end of its answer (a stream's last line), by route.",
    ["route", "method"],
    # From an index lookup to a million-line stream.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
DATABASE_ERRORS = Counter(
    "jobq_database_errors",
    "Requests that failed on a database error (503 when it is unreachable), by error class.",
    ["error"],
)
CACHE_ERRORS = Counter(
    "jobq_cache_errors",
    "Cache operations that failed (Redis unreachable): limits let requests through meanwhile.",
    ["operation"],
)
THROTTLED = Counter(
    "jobq_throttled",
    "Requests refused by a limit: api (JOBQ_RATE_LIMIT), login_user, login_address.",
    ["limit"],
)


class JobStoreCollector:
    """Read at scrape time from the counters (and the pending jobs' index)."""

    def collect(self):
        up = GaugeMetricFamily(
            "jobq_database_up", "1 when the database answered this scrape.", labels=["alias"]
        )
        try:
            yield from self.job_figures()
            up.add_metric(["default"], 1)
        except DatabaseError:
            log.exception("The database failed while /metrics read the job counters.")
            up.add_metric(["default"], 0)
        if "replica" in settings.DATABASES:
            lag = GaugeMetricFamily(
                "jobq_replica_lag_seconds",
                "How far the replica's data is behind the primary (0 when it has replayed everything).",
            )
            try:
                lag.add_metric([], replica_lag_seconds())
                up.add_metric(["replica"], 1)
                yield lag
            except DatabaseError:
                log.exception("The replica failed while /metrics read its lag.")
                up.add_metric(["replica"], 0)
        yield up

    def job_figures(self):
        # Imported here: the models need the app registry, this module does not.
        from ..models import Job, JobCount, State

        jobs = GaugeMetricFamily(
            "jobq_jobs", "Jobs by project and state (the exact counters).", labels=["project", "state"]
        )
        pending = GaugeMetricFamily(
            "jobq_pending_jobs",
            "Jobs waiting to be started, by project: the queue's depth.",
            labels=["project"],
        )
        oldest = GaugeMetricFamily(
            "jobq_oldest_pending_job_age_seconds",
            "How long the oldest pending job of each project has waited.",
            labels=["project"],
        )
        rows = JobCount.objects.using("default").values_list("project_id", "state").annotate(n=Sum("n"))
        for project_id, state, n in rows.order_by("project_id", "state"):
            jobs.add_metric([str(project_id), state], n)
            if state == State.PENDING:
                pending.add_metric([str(project_id)], n)
        # The partial index job_active_ts holds the pending jobs: a few rows per project.
        waiting = (
            Job.objects.using("default")
            .filter(state=State.PENDING)
            .values_list("project_id")
            .annotate(since=Min("ts"))
            .order_by("project_id")
        )
        now = time.time()
        for project_id, since in waiting:
            oldest.add_metric([str(project_id)], max(0.0, now - since / 1000))
        yield from (jobs, pending, oldest)


def replica_lag_seconds() -> float:
    with connections["replica"].cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
        )
        return float(cursor.fetchone()[0])


_job_store = CollectorRegistry(auto_describe=False)
_job_store.register(JobStoreCollector())


def exposition() -> bytes:
    """Everything /metrics shows, in Prometheus' text format."""
    multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiprocess_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_job_store)


def may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header[:7].lower() == "bearer " and hmac.compare_digest(header[7:].strip(), token):
        return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_ADDRESSES)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return HttpResponse(
            "Forbidden: /metrics answers METRICS_TOKEN or METRICS_ALLOWED_ADDRESSES.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE)

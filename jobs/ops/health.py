"""/healthz: can this server answer? 200 when the database answers and every
migration is applied (and the replica answers, when there is one), 503
otherwise. The body says which check failed, for whoever looks.

The cache is reported but never fails the check: with Redis down the limits
let requests through (jobs.ops.ratelimit), so taking every server out of a load
balancer over it would turn a degraded service into an outage.
"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse

from .ratelimit import CACHE_ERRORS

log = logging.getLogger(__name__)
OK = "ok"


def database_check(alias: str) -> str:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        log.warning("Health check: the %s database is unreachable: %s", alias, exc)
        return "unreachable"
    return OK


def migrations_check() -> str:
    """What `migrate --check` asks: is any migration on disk not applied?"""
    try:
        executor = MigrationExecutor(connections["default"])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        log.warning("Health check: could not read the applied migrations: %s", exc)
        return "unreachable"
    if plan:
        return f"{len(plan)} not applied"
    return OK


def cache_check() -> str:
    try:
        cache.get("healthz")
    except CACHE_ERRORS as exc:
        log.warning("Health check: the cache is unreachable: %s", exc)
        return "unreachable"
    return OK


def health_checks() -> dict[str, str]:
    checks = {"database": database_check("default")}
    checks["migrations"] = migrations_check() if checks["database"] == OK else "unknown"
    if "replica" in settings.DATABASES:
        checks["replica"] = database_check("replica")
    checks["cache"] = cache_check()
    return checks


def healthz_view(request: HttpRequest) -> JsonResponse:
    checks = health_checks()
    healthy = all(result == OK for name, result in checks.items() if name != "cache")
    response = JsonResponse(
        {"status": "ok" if healthy else "failing", "checks": checks}, status=200 if healthy else 503
    )
    response["Cache-Control"] = "no-store"
    return response

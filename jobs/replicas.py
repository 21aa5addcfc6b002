"""Reads from a PostgreSQL streaming replica (DATABASE_REPLICA_URL).

- GET and HEAD requests (the read-only API endpoints, the pages) read from
  the replica; everything else, and everything outside a request (management
  commands), uses the primary.
- A request that writes reads from the primary from then on: the router
  sends the rest of its reads where its write went.
- Read-your-writes: after a request that writes, the same session reads from
  the primary for DATABASE_REPLICA_PIN_SECONDS, long enough for the replica
  to catch up. A browser session is pinned by a cookie; an API key through
  the shared cache (any client, with or without cookies, on any server).
"""

import logging
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, transaction

from .jobq.auth import raw_key_from
from .models import digest_of
from .ratelimit import CACHE_ERRORS

log = logging.getLogger(__name__)
REPLICA = "replica"
PIN_COOKIE = "jobq_primary"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# Where this request's reads go; the primary outside requests.
reads_from: ContextVar[str] = ContextVar("jobq_reads_from", default=DEFAULT_DB_ALIAS)


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        return reads_from.get()

    def db_for_write(self, model, **hints):
        # The request's later reads must see what it is about to write.
        reads_from.set(DEFAULT_DB_ALIAS)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data on both

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


def stream_reads(generate):
    """Iterate generate() inside a transaction on the database this request
    reads from. A streamed body is produced after the middleware is done, so
    the choice is made now and carried along; the transaction lets
    PostgreSQL send rows as it finds them (outside one, Django declares the
    cursor WITH HOLD and PostgreSQL materialises every row first)."""
    alias = reads_from.get()

    def run():
        token = reads_from.set(alias)
        try:
            with transaction.atomic(using=alias):
                yield from generate()
        finally:
            reads_from.reset(token)

    return run()


def _key_pin(request):
    raw = raw_key_from(request)
    return f"replica-pin:{digest_of(raw)[:32]}" if raw else None


def _pinned(request):
    if request.COOKIES.get(PIN_COOKIE):
        return True
    name = _key_pin(request)
    if name is None:
        return False
    try:
        return bool(cache.get(name))
    except CACHE_ERRORS:
        log.error("The cache failed: reading from the primary, as if pinned.")
        return True


def _pin(request, response):
    seconds = settings.DATABASE_REPLICA_PIN_SECONDS
    response.set_cookie(
        PIN_COOKIE,
        "1",
        max_age=seconds,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    name = _key_pin(request)
    if name is not None:
        try:
            cache.set(name, 1, timeout=seconds)
        except CACHE_ERRORS:
            log.error("The cache failed: this API key's next reads may miss its write.")


class ReadRoutingMiddleware:
    """Chooses the database of each request's reads; steps aside without a replica."""

    def __init__(self, get_response):
        if REPLICA not in settings.DATABASES:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        replica = request.method in SAFE_METHODS and not _pinned(request)
        token = reads_from.set(REPLICA if replica else DEFAULT_DB_ALIAS)
        try:
            response = self.get_response(request)
        finally:
            reads_from.reset(token)
        if request.method not in SAFE_METHODS:
            _pin(request, response)
        return response

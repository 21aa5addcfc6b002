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
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from ..jobq.auth import raw_key_from
from ..models import digest_of
from .ratelimit import CACHE_ERRORS

log = logging.getLogger(__name__)
REPLICA = "replica"
PIN_COOKIE = "jobq_primary"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CUT = "A stream was cut at JOBQ_STREAM_TIME_LIMIT=%s s: its client got a partial answer."

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
    """Iterate generate() as the body of a streamed answer, on the database
    this request reads from. A streamed body is produced after the middleware
    is done, so the choice is made now and carried along.

    - SQLite: no transaction. Django begins its transactions IMMEDIATE (the
      write lock), and a client reading slowly would hold it to the last
      byte; a single SELECT outside a transaction reads one WAL snapshot
      and never blocks a writer.
    - PostgreSQL: a transaction, which lets it send rows as it finds them
      (outside one, Django declares the cursor WITH HOLD and PostgreSQL
      materialises every row first), bounded by JOBQ_STREAM_TIME_LIMIT: a
      reader that stalls that long has its connection ended by PostgreSQL
      (idle_in_transaction_session_timeout), and the stream stops at the
      limit, so no client keeps a snapshot open for good.

    Past the limit the answer ends where it is, with a warning in the log."""
    alias = reads_from.get()
    limit = settings.JOBQ_STREAM_TIME_LIMIT

    def run():
        token = reads_from.set(alias)
        started = time.monotonic()
        try:
            with read_transaction(alias, limit), closing(generate()) as items:
                for item in items:
                    yield item
                    if time.monotonic() - started > limit:
                        log.warning(CUT, limit)
                        if connections[alias].vendor != "sqlite":
                            # PostgreSQL may already have ended this idle
                            # transaction: closing the cursor on it would fail.
                            connections[alias].close()
                        return
        except DatabaseError:
            if time.monotonic() - started <= limit:
                raise
            # The database ended it (statement_timeout or the idle limit) past the limit.
            log.warning(CUT, limit)
        finally:
            reads_from.reset(token)

    return run()


@contextmanager
def read_transaction(alias: str = DEFAULT_DB_ALIAS, time_limit: int | None = None) -> Iterator[None]:
    """Where a long read runs: a transaction on PostgreSQL (rows sent as found),
    none on SQLite (a single SELECT reads one snapshot without the write lock
    that Django's IMMEDIATE transactions take). `time_limit` seconds bound
    PostgreSQL's statements and idle time inside it."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        yield
        return
    with transaction.atomic(using=alias):
        if time_limit is not None:
            with connection.cursor() as cursor:
                # Milliseconds; local to this transaction, the connection keeps its defaults.
                cursor.execute(
                    "SELECT set_config('idle_in_transaction_session_timeout', %s, true), "
                    "set_config('statement_timeout', %s, true)",
                    [str(time_limit * 1000)] * 2,
                )
        yield


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

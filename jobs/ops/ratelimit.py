"""Counting events in Django's cache: the API rate limit and the login throttle.

Local memory counts per process; with REDIS_URL every process and server
counts in one place, so a limit holds across all of them. A window starts
with the first event after the previous window ended and lasts its
`seconds`: at most `events` are allowed in it (INCR keeps the key's expiry,
so the count and its window live and die together).

A cache that fails (Redis down) lets events through and says so in the log
and in `jobq_cache_errors_total`: a lost limit is better than an outage.
"""

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache
from redis.exceptions import RedisError

from . import metrics

log = logging.getLogger(__name__)
# What a failing cache raises: Redis's own errors, or the socket's.
CACHE_ERRORS = (RedisError, OSError)

Limit = tuple[int, int]  # (events, seconds)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    used: int
    retry_after: int = 0


def _name(bucket: str) -> str:
    return f"rate:{bucket}"


def _retry_after(bucket: str, seconds: int) -> int:
    until = cache.get(_name(bucket) + ":until")
    if until is None:
        return seconds
    return max(1, int(until - time.time()) + 1)


def _failed(operation: str) -> Verdict:
    log.error("The cache failed while counting (%s); the limit lets this request through.", operation)
    metrics.CACHE_ERRORS.labels(operation).inc()
    return Verdict(True, 0)


def hit(bucket: str, limit: Limit | None) -> Verdict:
    """Count one event in `bucket` and say whether it is within the limit."""
    if limit is None:
        return Verdict(True, 0)
    events, seconds = limit
    name = _name(bucket)
    try:
        if cache.add(name, 0, timeout=seconds):
            cache.set(name + ":until", time.time() + seconds, timeout=seconds)
        try:
            used = cache.incr(name)
        except ValueError:  # the window ended between add and incr
            cache.add(name, 1, timeout=seconds)
            used = 1
        if used <= events:
            return Verdict(True, used)
        return Verdict(False, used, _retry_after(bucket, seconds))
    except CACHE_ERRORS:
        return _failed("hit")


def peek(bucket: str, limit: Limit | None) -> Verdict:
    """Whether one more event in `bucket` would be within the limit, without counting it."""
    if limit is None:
        return Verdict(True, 0)
    events, seconds = limit
    try:
        used = cache.get(_name(bucket), 0)
        if used < events:
            return Verdict(True, used)
        return Verdict(False, used, _retry_after(bucket, seconds))
    except CACHE_ERRORS:
        return _failed("peek")


def reset(bucket: str) -> None:
    """Forget the bucket's events (a successful login clears its user's failures)."""
    try:
        cache.delete_many([_name(bucket), _name(bucket) + ":until"])
    except CACHE_ERRORS:
        _failed("reset")

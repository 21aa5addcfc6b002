"""The operations middleware: a log line and metrics for every request, and
the two endpoints that load balancers and Prometheus call."""

import logging
import time
from collections.abc import Callable, Iterator
from functools import partial

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.utils.functional import empty

from . import metrics
from .health import healthz_view
from .redaction import REDACTED

log = logging.getLogger("jobq.requests")

OPS_ENDPOINTS = {"/healthz": healthz_view, "/metrics": metrics.metrics_view}


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (`jobq/<id:project_id>/list`), never the
    path itself, so metrics have a label per route, not per job."""
    route = getattr(request, "ops_route", None)
    if route:
        return route
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.route or "/"
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


def redacted_query(request: HttpRequest) -> str:
    """The query string with `apikey` values replaced."""
    if not request.META.get("QUERY_STRING"):
        return ""
    try:
        given = request.GET.lists()
    except TooManyFieldsSent:
        # Django already answered 400; the log must not turn that into a 500.
        return "(too many parameters)"
    query = QueryDict(mutable=True)
    for name, values in given:
        query.setlist(name, [REDACTED] * len(values) if name.lower() == "apikey" else values)
    return query.urlencode(safe="/:[]")


def log_fields(request: HttpRequest, response: HttpResponseBase, route: str, seconds: float, **extra) -> str:
    """`key=value` pairs: method, route, status, duration, and for the API the
    project and the key's prefix (never the key), for pages the user's id."""
    fields = {
        "method": request.method,
        "route": route,
        "status": response.status_code,
        "ms": f"{seconds * 1000:.1f}",
        "path": request.path,
    }
    query = redacted_query(request)
    if query:
        fields["query"] = query
    match = getattr(request, "resolver_match", None)
    project = match.kwargs.get("project_id") if match is not None else None
    if project is not None:
        fields["project"] = project
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        fields["key"] = api_key.prefix
    user = getattr(request, "user", None)
    # Only a user the request already looked up: logging must not query.
    looked_up = user is not None and getattr(user, "_wrapped", None) is not empty
    if api_key is None and looked_up and getattr(user, "is_authenticated", False):
        fields["user"] = getattr(user, "pk", None)
    fields.update(extra)
    return " ".join(f"{name}={quoted(value)}" for name, value in fields.items())


def quoted(value: object) -> str:
    """A value as one logfmt token: quoted, with escapes, when it needs to be."""
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


class RequestLogMiddleware:
    """One line per request on `jobq.requests`, and the request metrics.

    A streamed answer is logged when its last byte is handed over (or the
    client goes away), with its size, so a million-line list shows its real
    duration. Successful health checks are counted but not logged: a load
    balancer asks every few seconds."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        if request.method == "HEAD":
            # No body (its Content-Length stays): gunicorn would drop it with a warning each time.
            if response.streaming:
                response.streaming_content = []  # type: ignore[attr-defined]
            else:
                response.content = b""  # type: ignore[attr-defined]
        if response.streaming:
            finished = partial(self.finished, request, response, route, started)
            response.streaming_content = TimedStream(response.streaming_content, finished)  # type: ignore[attr-defined]
        else:
            self.finished(request, response, route, started, bytes=len(response.content))  # type: ignore[attr-defined]
        return response

    def finished(
        self, request: HttpRequest, response: HttpResponseBase, route: str, started: float, **extra
    ) -> None:
        seconds = time.perf_counter() - started
        method = str(request.method)
        metrics.REQUESTS.labels(route, method, str(response.status_code)).inc()
        metrics.LATENCY.labels(route, method).observe(seconds)
        if route == "healthz" and response.status_code == 200:
            return
        log.info(log_fields(request, response, route, seconds, **extra))


class TimedStream:
    """A streamed body that reports, once, when it ends: with its size, and
    `complete=no` when the client left (or the body failed) part-way. An
    iterator rather than a generator, so that closing one that never started
    (a client gone before the first byte) still reports."""

    def __init__(self, chunks: Iterator[bytes], finished: Callable[..., None]) -> None:
        self.chunks, self.finished = iter(chunks), finished
        self.sent, self.reported = 0, False

    def __iter__(self) -> "TimedStream":
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self.chunks)
        except StopIteration:
            self.report(complete=True)
            raise
        except DatabaseError as exc:
            metrics.DATABASE_ERRORS.labels(type(exc).__name__).inc()
            raise
        self.sent += len(chunk)
        return chunk

    def close(self) -> None:
        self.report(complete=False)

    def report(self, *, complete: bool) -> None:
        if not self.reported:
            self.reported = True
            self.finished(bytes=self.sent, **({} if complete else {"complete": "no"}))


class OpsEndpointsMiddleware:
    """/healthz and /metrics, before ALLOWED_HOSTS and the HTTPS redirect:
    a load balancer or Prometheus asks by address, over plain HTTP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        view = OPS_ENDPOINTS.get(request.path)
        if view is None:
            return self.get_response(request)
        request.ops_route = request.path.lstrip("/")  # type: ignore[attr-defined]
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse("Use GET.\n", status=405, content_type="text/plain; charset=utf-8")
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

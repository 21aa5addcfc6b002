"""Plumbing shared by the JobQ views: errors, authentication, responses.

The contract (../shared/jobq-contract.md) fixes every detail here: JSON
errors with a short code and a sentence, the 401 header, the same 404 for a
foreign and a missing project, JSON Lines with their content type.
"""

import base64
import binascii
import time
from datetime import timedelta
from functools import wraps

import orjson
from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import ApiKey, Project

JSONLINES = "application/x-jsonlines; charset=utf-8"
JSON = "application/json"
INT64_MAX = 2**63 - 1
# Recording every use would be a write per request; once a minute is enough.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiError(Exception):
    def __init__(self, status, error, message, *, param=None, headers=None):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.param, self.headers = param, headers or {}

    def response(self):
        body = {"error": self.error, "message": self.message}
        if self.param:
            body["param"] = self.param
        response = json_response(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def bad_parameter(param, message):
    return ApiError(400, "invalid_parameter", message, param=param)


def not_found(message="Not found"):
    return ApiError(404, "not_found", message)


def unauthorized():
    return ApiError(
        401,
        "Unauthorized",
        "Unauthorized",
        headers={"WWW-Authenticate": 'Basic realm="apikey"'},
    )


def json_response(value, status=200):
    return HttpResponse(orjson.dumps(value), status=status, content_type=JSON)


def jsonlines_response(lines, *, stream=False):
    """JSON Lines: each item of `lines` is already one encoded line."""
    if stream:
        return StreamingHttpResponse(lines, content_type=JSONLINES)
    return HttpResponse(b"".join(lines), content_type=JSONLINES)


def raw_key_from(request):
    """The API key of Basic auth (`-u KEY:`) or of `?apikey=KEY`."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return request.GET.get("apikey") or None


def authenticate(request):
    raw = raw_key_from(request)
    if not raw or len(raw) > 200:
        return None
    key = ApiKey.objects.find(raw)
    if key is not None:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def throttle(key):
    """429 when the key went over JOBQ_RATE_LIMIT requests in its window.

    A fixed window counted in Django's cache (local memory: each server
    process counts on its own).
    """
    limit = settings.JOBQ_RATE_LIMIT
    if not limit:
        return
    requests, seconds = limit
    window = int(time.time() // seconds)
    name = f"jobq-rate:{key.pk}:{window}"
    cache.add(name, 0, timeout=seconds + 1)
    try:
        used = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=seconds + 1)
        used = 1
    if used > requests:
        retry_after = max(1, int((window + 1) * seconds - time.time()) + 1)
        raise ApiError(
            429,
            "throttled",
            f"Too many requests: at most {requests} every {seconds} s; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def jobq_endpoint(*methods, write=False):
    """An API view: method check (405 with Allow), API key (401), write
    permission (403), and ApiError turned into its JSON answer.

    `write` is True, or a set of methods that write."""

    allowed = set(methods)
    if "GET" in allowed:
        allowed.add("HEAD")

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if request.method not in allowed:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        f"{request.method} is not allowed here; use {', '.join(sorted(allowed))}.",
                        headers={"Allow": ", ".join(sorted(allowed))},
                    )
                key = authenticate(request)
                if key is None:
                    raise unauthorized()
                throttle(key)
                writes = write is True or (write and request.method in write)
                if writes and key.read_only:
                    raise ApiError(403, "forbidden", "This API key is read-only.")
                request.api_key = key
                return view(request, *args, **kwargs)
            except ApiError as error:
                return error.response()

        return wrapper

    return decorator


def project_for(request, project_id):
    """The project, if the request's key may see it; the same 404 otherwise."""
    if project_id > INT64_MAX:
        raise not_found(f"Project {project_id} not found.")
    key = request.api_key
    projects = Project.objects.filter(pk=project_id, api_keys=key)
    if key.user is not None and not key.user.is_staff:
        # A person's key reaches no further than the person: leaving a
        # project takes the key's access to it along.
        projects = projects.filter(membership__user=key.user)
    project = projects.first()
    if project is None:
        raise not_found(f"Project {project_id} not found.")
    return project


def reject_conflicting_scalars(params, names):
    """A scalar parameter given twice with different values is a 400."""
    for name in names:
        values = params.getlist(name)
        if len(set(values)) > 1:
            raise bad_parameter(name, f"{name} was given more than once with different values.")


def first_error(form):
    """(parameter, message) of a form's first error, for a 400."""
    for field, errors in form.errors.items():
        return field, f"{field}: {' '.join(errors)}"
    return None, "invalid parameters"

"""Who is asking: API keys, their projects, their rate, and the decorator
that every JobQ view wears.

A key comes as the HTTP Basic user name (`curl -u KEY:`) or as `?apikey=`.
A project the key may not see answers exactly like a missing one.
"""

import base64
import binascii
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from ..keys import INT64_MAX
from ..models import ApiKey, Project
from ..ops import metrics, ratelimit
from .crosssite import refuse_browser_signals, refuse_form_post
from .errors import ApiError, forbidden, method_not_allowed, not_found, unauthorized

# Recording every use would be a write per request; once a minute is enough.
LAST_USED_PRECISION = timedelta(minutes=1)

# A JobQ view: a request (and the URL's arguments) in, an answer out.
View = Callable[..., HttpResponseBase]


class ApiRequest(HttpRequest):
    """The request a `jobq_endpoint` view receives: it carries its API key,
    and the project of the URL's `project_id` if the key may see it.
    Never instantiated; it names the attributes the decorator sets, for mypy."""

    api_key: ApiKey
    api_project: Project | None


def raw_key_from(request: HttpRequest) -> str | None:
    """The API key of Basic auth (`-u KEY:`) or of `?apikey=KEY`."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return request.GET.get("apikey") or None


def authenticate(request: HttpRequest, project_id: int | None = None) -> tuple[ApiKey | None, Project | None]:
    """(key, project): the active key the request carries, and the project
    `project_id` if that key may see it; Nones otherwise. One query."""
    raw = raw_key_from(request)
    if not raw or len(raw) > 200:
        return None, None
    if project_id is not None and project_id > INT64_MAX:
        project_id = None  # no such project: the database could not even compare it
    key, project = ApiKey.objects.find_with_project(raw, project_id)
    if key is not None:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            # Bookkeeping, not the client's write: named for the primary, so
            # the request's reads stay on a replica (jobs.ops.replicas).
            ApiKey.objects.using(DEFAULT_DB_ALIAS).filter(pk=key.pk).update(last_used_at=now)
    return key, project


def throttle(key: ApiKey) -> None:
    """429 when the key went over JOBQ_RATE_LIMIT requests in its window,
    counted in the cache: with REDIS_URL, across every server (jobs.ops.ratelimit)."""
    verdict = ratelimit.hit(f"api-key:{key.pk}", settings.JOBQ_RATE_LIMIT)
    if not verdict.allowed:
        metrics.THROTTLED.labels("api").inc()
        requests, seconds = settings.JOBQ_RATE_LIMIT
        raise ApiError(
            429,
            "throttled",
            f"Too many requests: at most {requests} every {seconds} s; retry in {verdict.retry_after} s.",
            headers={"Retry-After": str(verdict.retry_after)},
        )


def jobq_endpoint(*methods: str, write: bool | set[str] = False) -> Callable[[View], View]:
    """An API view: method check (405 with Allow), API key (401), write
    permission (403), no writes from another site's pages (403, see
    `crosssite`), and ApiError turned into its JSON answer.

    `write` is True, or the set of methods that write."""

    allowed = set(methods)
    if "GET" in allowed:
        allowed.add("HEAD")

    def decorator(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            try:
                if request.method not in allowed:
                    raise method_not_allowed(str(request.method), allowed)
                writes = write is True or (isinstance(write, set) and request.method in write)
                if writes:
                    # Before the key: another site's page gets no Basic-auth prompt either.
                    refuse_browser_signals(request)
                project_id = kwargs.get("project_id")
                key, project = authenticate(request, project_id if isinstance(project_id, int) else None)
                if key is None:
                    raise unauthorized()
                throttle(key)
                if writes and key.read_only:
                    raise forbidden("This API key is read-only.")
                if writes:
                    # After the key: it reads the body, which only a client with a key may make us read.
                    refuse_form_post(request)
                # This is the step that makes the request an ApiRequest.
                request.api_key = key  # type: ignore[attr-defined]
                request.api_project = project  # type: ignore[attr-defined]
                return view(request, *args, **kwargs)
            except ApiError as error:
                return error.response()

        return wrapper

    return decorator


def project_for(request: ApiRequest, project_id: int) -> Project:
    """The project, if the request's key may see it; the same 404 otherwise.
    Looked up with the key (ApiKey.objects.find_with_project)."""
    project = request.api_project
    if project is None or project.pk != project_id:
        raise not_found(f"Project {project_id} not found.")
    return project


def requester(request: ApiRequest) -> str:
    """Who asked, as recorded in `cancelled_by`: the key's user, else its name."""
    key = request.api_key
    if key.user_id is not None:
        assert key.user is not None  # a set user_id is a loaded user; mypy cannot tie the two
        return key.user.get_username()
    return key.name or f"key {key.prefix}"

"""The JobQ error shape, and Django's own error answers on API paths.

Every error is `{"error": <short code>, "message": <sentence>}`, plus
`"param"` when a parameter is at fault: the official client shows
`message` as the exception text. Under the API's paths even Django's own
answers take that shape: 400 (too many parameters, a bad Host header), 403
(CSRF included), 404, 413 and 500; pages keep their HTML.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.views.csrf import csrf_failure as page_csrf_failure
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error

from .responses import json_response

API_PREFIXES = ("/jobq/", "/jobs/", "/ids/")


class ApiError(Exception):
    """An error answer: raise it anywhere below a `jobq_endpoint` view."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.param, self.headers = param, headers or {}

    def response(self) -> HttpResponse:
        body = {"error": self.error, "message": self.message}
        if self.param:
            body["param"] = self.param
        response = json_response(body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def bad_parameter(param: str | None, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, param=param)


def invalid(message: str, param: str | None = None) -> ApiError:
    """A request body (or part of one) that jobq refuses."""
    return ApiError(400, "invalid_request", message, param=param)


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "Unauthorized",
        "Unauthorized",
        headers={"WWW-Authenticate": 'Basic realm="apikey"'},
    )


def method_not_allowed(method: str, allowed: list[str] | set[str], hint: str | None = None) -> ApiError:
    allow = ", ".join(sorted(allowed))
    return ApiError(
        405,
        "method_not_allowed",
        hint or f"{method} is not allowed here; use {allow}.",
        headers={"Allow": allow},
    )


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"The request body is larger than {limit} bytes.")


def django_bad_request(exception: Exception | None) -> ApiError:
    """The API's answer to a request Django itself refused as suspicious."""
    if isinstance(exception, RequestDataTooBig):
        # Only a form that Django parses itself gets here: its own limit applies.
        return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        return bad_parameter(
            None, f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} parameters."
        )
    if isinstance(exception, DisallowedHost):
        # The Host itself is not repeated: it is whatever the client made up.
        return ApiError(400, "bad_request", "The Host header names no host this server answers for.")
    return ApiError(400, "bad_request", "Bad request.")


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return django_bad_request(exception).response()
    return bad_request(request, exception)  # type: ignore[arg-type]


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return forbidden(str(exception or "") or "Forbidden.").response()
    return permission_denied(request, exception)  # type: ignore[arg-type]


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW. The API's views need no CSRF token (a key, not a
    cookie, says who asks); any CSRF refusal under its paths is still JSON."""
    if is_api(request):
        return forbidden(f"CSRF verification failed: {reason}").response()
    return page_csrf_failure(request, reason)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return not_found().response()
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return ApiError(500, "server_error", "Internal server error").response()
    return server_error(request)

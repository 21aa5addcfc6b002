"""The JobQ error shape, and Django's own error answers on API paths.

Every error is `{"error": <short code>, "message": <sentence>}`, plus
`"param"` when a parameter is at fault: the official client shows
`message` as the exception text. Under the API's paths even Django's own
404 and 500 answer in that shape.
"""

from django.http import HttpRequest, HttpResponse
from django.views.defaults import page_not_found, server_error

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


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return not_found().response()
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api(request):
        return ApiError(500, "server_error", "Internal server error").response()
    return server_error(request)

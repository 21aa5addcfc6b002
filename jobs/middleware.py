from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from .api import ApiError
from .errors import is_api

RETRY_AFTER_SECONDS = "5"


class DatabaseUnavailableMiddleware:
    """A database that is down or locked answers 503 with Retry-After, which
    JobQ clients retry, rather than a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        if is_api(request):
            return ApiError(
                503,
                "unavailable",
                "The database is unavailable; retry shortly.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ).response()
        response = HttpResponse(
            "The database is unavailable; retry shortly.",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response

"""Request-wide behaviour: the user's time zone, and a polite answer when
the database is down."""

from urllib.parse import unquote

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from .jobq.errors import ApiError, is_api
from .ops import metrics
from .timezones import COOKIE, zone_from_name

RETRY_AFTER_SECONDS = "5"


class TimezoneMiddleware:
    """Activates the zone of the `tz` cookie for the request (UTC without one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_from_name(unquote(request.COOKIES.get(COOKIE, "")))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class DatabaseUnavailableMiddleware:
    """A database that is down or locked answers 503 with Retry-After, which
    JobQ clients retry, rather than a 500: JSON on the API, a short HTML
    page saying so for people."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DatabaseError):
            metrics.DATABASE_ERRORS.labels(type(exception).__name__).inc()
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if is_api(request):
            return ApiError(
                503,
                "unavailable",
                "The database is unavailable; retry shortly.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            ).response()
        # Rendered without the request: its context processors would read
        # the session and the user, from the database that is down.
        page = render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = RETRY_AFTER_SECONDS
        response["Cache-Control"] = "no-store"
        return response

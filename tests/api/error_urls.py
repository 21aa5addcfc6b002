"""The site's routes plus a few under /jobq/ that fail in the ways only Django
itself answers (403, 413, 500, CSRF), for tests/api/test_api_errors.py."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path

from jobqsite.urls import handler400, handler403, handler404, handler500  # noqa: F401
from jobqsite.urls import urlpatterns as site_urlpatterns


def denied(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("No entry.")


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


def form(request: HttpRequest) -> HttpResponse:
    # Not csrf_exempt, and reads the form: Django's own CSRF and size checks apply.
    return HttpResponse(str(len(request.POST)))


urlpatterns = [
    *[path(f"{prefix}/test-only/denied", denied) for prefix in ("jobq", "jobs", "ids", "p")],
    *[path(f"{prefix}/test-only/broken", broken) for prefix in ("jobq", "jobs", "ids", "p")],
    *[path(f"{prefix}/test-only/form", form) for prefix in ("jobq", "jobs", "ids", "p")],
    *site_urlpatterns,
]

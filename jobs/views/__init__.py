"""The dashboard: pages for people who log in (the JobQ API is `jobs.jobq`).

Every view and partial checks access itself (`jobs.access`): htmx fetches
partials on their own, so a template is never the gatekeeper.
"""

from django.forms import Form
from django.http import HttpResponse


def form_errors(form: Form) -> list[str]:
    """A form's errors as lines naming the parameter: `startts: … is not …`."""
    return [f"{name}: {error}" for name, errors in form.errors.items() for error in errors]


def bad_request(errors: list[str]) -> HttpResponse:
    """A plain-text 400 for what a page never shows itself (a partial that
    htmx fetches, an export link): the errors, one per line."""
    return HttpResponse("\n".join(errors) + "\n", status=400, content_type="text/plain; charset=utf-8")

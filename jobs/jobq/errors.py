"""Error pages: JSON under the API's paths, so clients always get the contract's shape."""

from django.views.defaults import page_not_found, server_error

from .api import json_response

API_PREFIXES = ("/jobq/", "/jobs/", "/ids/")


def is_api(request):
    return request.path.startswith(API_PREFIXES)


def handler404(request, exception=None):
    if is_api(request):
        return json_response({"error": "not_found", "message": "Not found"}, status=404)
    return page_not_found(request, exception)


def handler500(request):
    if is_api(request):
        return json_response({"error": "server_error", "message": "Internal server error"}, status=500)
    return server_error(request)

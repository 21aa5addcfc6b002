"""No writes from another site's pages through a remembered key.

A browser that once answered the API's Basic-auth prompt sends the key again
with any request to jobq, including one that another site's page makes (a
form, `fetch` in `no-cors` mode). Such a request carries signals no API
client sends, and a write that carries one is refused (403):

- `Sec-Fetch-Site: cross-site` or `same-site` (every current browser sends
  it). `same-site` too: a page on a sibling host of the same domain is not
  jobq's, and jobq's own pages never write through the API.
- an `Origin` that is not this host (nor in CSRF_TRUSTED_ORIGINS), or
  `null`: browsers send `Origin` with every cross-origin POST and DELETE.
- a form's body, for browsers older than those headers. A form posts one of
  three content types:
  - `multipart/form-data`: always refused; no API client sends it.
  - `application/x-www-form-urlencoded`: refused unless the body starts as
    JSON does (`{`, `[` or `"`), which a form's encoding never does (it
    escapes those characters). `curl -d` sends this type with the JSON as
    is, and keeps working; a form's `a=b`, or its empty body on a route that
    needs none (startjob, cancel one job), is refused.
  - `text/plain`: refused when the body ends with CRLF, as this encoding
    ends every field (it is the one a form can fill with JSON). Not refused
    otherwise: servers built on wsgiref (`runserver`) report `text/plain`
    for a request that sent no content type at all, as the client does.

The `scrapinghub` client (and `requests`, curl without -d) send no content
type, no Origin and no Sec-Fetch headers.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest

from .bodies import read_body
from .errors import forbidden

REFUSED_FETCH_SITES = ("cross-site", "same-site")
MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
TEXT_PLAIN = "text/plain"
# A body a browser's form encoding can never start with.
JSON_STARTS = (b"{", b"[", b'"')


def content_type(request: HttpRequest) -> str:
    return request.META.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()


def is_own_origin(request: HttpRequest, origin: str) -> bool:
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    # The host alone: behind a proxy that ends TLS the request's scheme may
    # say http where the browser's Origin says https.
    try:
        host = urlsplit(origin).netloc
    except ValueError:  # "http://[not-an-address": no site at all
        return False
    return host.lower() == request.get_host().lower()


def refuse_browser_signals(request: HttpRequest) -> None:
    """403 when a write's headers say another site's page sent it."""
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE", "").lower()
    if fetch_site in REFUSED_FETCH_SITES:
        raise forbidden(f"Sec-Fetch-Site: {fetch_site}: the API takes no writes from another site's pages.")
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None and not is_own_origin(request, origin):
        shown = origin if len(origin) <= 100 else origin[:100] + "…"
        raise forbidden(
            f"Origin {shown!r} is not this site: the API takes no writes from another site's pages."
        )
    if content_type(request) == MULTIPART:
        raise forbidden(f"Content-Type {MULTIPART} is a browser form's: send JSON with no content type.")


def refuse_form_post(request: HttpRequest) -> None:
    """403 for a write whose body is a browser form's (see the module's docstring)."""
    kind = content_type(request)
    if kind == URLENCODED and not read_body(request).lstrip().startswith(JSON_STARTS):
        raise forbidden(
            f"Content-Type {URLENCODED} with a body that is not a JSON object, array or string is a "
            "browser form's: send the body with no content type or application/json "
            "(curl --data-binary … -H 'Content-Type: application/json')."
        )
    if kind == TEXT_PLAIN and read_body(request).endswith(b"\r\n"):
        raise forbidden(
            f"Content-Type {TEXT_PLAIN} with a body ending in CRLF is a browser form's: end lines "
            "with LF, or send application/json."
        )

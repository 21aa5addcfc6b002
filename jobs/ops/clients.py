"""The client's address, as seen by the first proxy jobq trusts."""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or behind JOBQ_TRUSTED_PROXIES proxies, the address the
    outermost of them saw: each proxy appends the address it was called from
    to X-Forwarded-For, so that one is N entries from the right. Entries
    further left were written by the client and prove nothing."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.JOBQ_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        # Fewer hops than proxies: the request did not come through them all.
        return remote
    return forwarded[-proxies]

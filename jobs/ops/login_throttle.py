"""Failed logins, counted per user name and per client address in the cache
(with REDIS_URL, across every server), so that guessing passwords stops
after JOBQ_LOGIN_LIMIT_PER_USER / JOBQ_LOGIN_LIMIT_PER_ADDRESS failures.

The check sits in the authentication backend, so the login page and the
admin's login are both covered. While a user name or an address is
throttled its password is not even checked: a right guess then proves
nothing. A successful login clears its user name's failures (not its
address's: someone with an account of their own could otherwise wipe the
count of the addresses they guess from).
"""

import hashlib

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError

from . import metrics, ratelimit
from .clients import client_address


def _buckets(request, username):
    """(limit name, bucket, limit) for the user name and the address."""
    user = hashlib.sha256(str(username or "").strip().lower().encode()).hexdigest()[:32]
    return (
        ("login_user", f"login-user:{user}", settings.JOBQ_LOGIN_LIMIT_PER_USER),
        ("login_address", f"login-address:{client_address(request)}", settings.JOBQ_LOGIN_LIMIT_PER_ADDRESS),
    )


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:  # not a login over HTTP (e.g. a management command)
            return super().authenticate(request, username, password, **kwargs)
        buckets = _buckets(request, username)
        for name, bucket, limit in buckets:
            verdict = ratelimit.peek(bucket, limit)
            if not verdict.allowed:
                metrics.THROTTLED.labels(name).inc()
                request.login_retry_after = verdict.retry_after
                # Stops authenticate() here: no other backend is asked.
                raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            for _name, bucket, limit in buckets:
                ratelimit.hit(bucket, limit)
        else:
            ratelimit.reset(buckets[0][1])
        return user


class ThrottleMessage:
    """Says "too many failed logins, retry in N minutes" instead of
    "wrong password" when the backend refused to check."""

    def get_invalid_login_error(self):
        retry_after = getattr(self.request, "login_retry_after", None)
        if retry_after is None:
            return super().get_invalid_login_error()
        minutes = max(1, -(-retry_after // 60))
        return ValidationError(
            f"Too many failed logins for this user name or from this address; try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}.",
            code="throttled",
        )


class ThrottledAuthenticationForm(ThrottleMessage, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottleMessage, AdminAuthenticationForm):
    pass


class ThrottledLoginView(LoginView):
    """The login page: a throttled attempt answers 429 with Retry-After."""

    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        retry_after = getattr(self.request, "login_retry_after", None)
        if retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

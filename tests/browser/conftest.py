"""Playwright fixtures for browser tests, driving Debian's Chromium.

Browser tests live in this folder; mark them with `@pytest.mark.browser` and ask for `page`: a tab
logged in as `browser_user` (owner of project 53) against pytest-django's
`live_server`. `live_url("/p/53/")` builds absolute URLs.

Without a Chromium the tests skip; with JOBQ_REQUIRE_BROWSER=1 (CI) they
fail instead, so a broken browser setup can never pass silently.
Never run `playwright install`: we use the system Chromium.
"""

import os
import shutil

import pytest

from ..conftest import requests_take_turns

# Playwright's sync API runs an event loop in this thread; Django refuses
# synchronous database calls from a thread with a running loop unless told
# that this is fine. Test code here is sequential, so it is.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Generous for a 2-core machine shared with other work, still far below a hang.
DEFAULT_TIMEOUT_MS = 15_000
BROWSER_PASSWORD = "correct horse battery staple"


def _require_browser():
    return os.environ.get("JOBQ_REQUIRE_BROWSER") == "1"


def _unavailable(reason):
    if _require_browser():
        pytest.fail(f"JOBQ_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no chromium on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as exc:
        playwright.stop()
        _unavailable(f"chromium did not start: {exc}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def browser_user(live, project):
    """The user `page` is logged in as: owner of project 53."""
    from django.contrib.auth import get_user_model

    from jobs.models import Membership

    user = get_user_model().objects.create_user("alice", password=BROWSER_PASSWORD)
    Membership.objects.create(project=project, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def live_browser(live):
    """The live server the browser talks to (requests_take_turns)."""
    with requests_take_turns(live):
        yield live


@pytest.fixture
def live_url(live_browser):
    return lambda path="/": live_browser.url + path


def session_cookie(user, live_server_url):
    """A session cookie for `user`, as Playwright's add_cookies takes it."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server_url,
    }


@pytest.fixture
def new_context(browser, live_browser):
    """Factory: a fresh browser context (own cookies), logged in as `user`
    when given. Options go to browser.new_context (e.g. java_script_enabled=False,
    color_scheme="dark", viewport={...})."""
    contexts = []

    def make(user=None, **options):
        options.setdefault("timezone_id", "UTC")
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        if user is not None:
            context.add_cookies([session_cookie(user, live_browser.url)])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context, browser_user):
    """A tab logged in as `browser_user`."""
    return new_context(browser_user).new_page()


@pytest.fixture
def anonymous_page(new_context):
    """A tab with no session: for the login form itself."""
    return new_context().new_page()

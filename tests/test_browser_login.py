"""The browser fixtures themselves: Chromium starts, logging in works both by
the form and by the injected session of the `page` fixture."""

import pytest

from .browser import BROWSER_PASSWORD

pytestmark = pytest.mark.browser


def test_login_form_then_projects(anonymous_page, browser_user, live_url):
    page = anonymous_page
    page.goto(live_url("/"))
    assert "/login/" in page.url
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_url("/p/53/") + "**")
    assert page.get_by_text("alice").first.is_visible()


def test_page_fixture_is_logged_in(page, live_url):
    response = page.goto(live_url("/p/53/"))
    assert response.status == 200
    assert "/login/" not in page.url

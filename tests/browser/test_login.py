"""The browser fixtures themselves: Chromium starts, logging in works both by
the form and by the injected session of the `page` fixture."""

import pytest

from .conftest import BROWSER_PASSWORD, _unavailable


def test_without_chromium_browser_tests_skip_but_fail_in_ci(monkeypatch):
    monkeypatch.delenv("JOBQ_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _unavailable("no chromium on PATH")
    monkeypatch.setenv("JOBQ_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="JOBQ_REQUIRE_BROWSER=1 but no chromium"):
        _unavailable("no chromium on PATH")


@pytest.mark.browser
def test_login_form_then_projects(anonymous_page, browser_user, live_url):
    page = anonymous_page
    page.goto(live_url("/"))
    assert "/login/" in page.url
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_url("/p/53/") + "**")
    assert page.get_by_text("alice").first.is_visible()


@pytest.mark.browser
def test_page_fixture_is_logged_in(page, live_url):
    response = page.goto(live_url("/p/53/"))
    assert response.status == 200
    assert "/login/" not in page.url

"""The API keys page in Chromium: a key is shown once, revoked in place."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import ApiKey

pytestmark = pytest.mark.browser


def test_create_see_once_then_revoke_in_place(page, live_url, project):
    page.goto(live_url("/p/53/"))
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("books #53").check()
    page.get_by_role("button", name="Create key").click()
    raw = page.get_by_label("Your new API key").input_value()
    assert re.fullmatch(r"[0-9a-f]{32}", raw)
    page.reload()  # a reload must not show it again (and must not re-post)
    expect(page.get_by_label("Your new API key")).to_have_count(0)
    assert raw not in page.content()

    page.evaluate("window.stillHere = true")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke the key nightly export").click()
    expect(page.get_by_role("row", name=re.compile("nightly export"))).to_contain_text("Revoked")
    assert page.evaluate("window.stillHere") is True
    assert ApiKey.objects.get().revoked_at is not None

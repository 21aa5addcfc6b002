"""The job detail page and the bulk toolbar in Chromium: htmx edits in place."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import BulkAction, Job

from ..factories import BASE_TS, add_job, add_jobs, job_line

pytestmark = pytest.mark.browser


def test_edit_a_tag_inline_on_the_detail_page(page, live_url, project):
    add_job(
        number=7,
        tags=["old"],
        close_reason="finished",
        running_time=BASE_TS,
        finished_time=BASE_TS + 65_000,
        ts=BASE_TS + 65_000,
    )
    page.goto(live_url("/p/53/job/1/7/"))
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    # a marker that a full page load would wipe: the edit must happen in place
    page.evaluate("window.stillHere = true")

    page.get_by_label("Add a tag").fill("fresh")
    page.get_by_role("button", name="Add", exact=True).click()
    tags = page.get_by_role("list", name="Tags of 53/1/7")
    expect(tags).to_contain_text("fresh")
    expect(page.get_by_role("status")).to_have_text("Tag fresh added.")
    # focus is back in the input, ready for the next tag
    expect(page.get_by_label("Add a tag")).to_be_focused()
    assert Job.objects.get(key="53/1/7").tags == ["old", "fresh"]

    page.get_by_role("button", name="Remove tag old").click()
    expect(tags).not_to_contain_text("old")
    assert Job.objects.get(key="53/1/7").tags == ["fresh"]
    assert page.evaluate("window.stillHere") is True
    assert page.url == live_url("/p/53/job/1/7/")


def test_tags_without_javascript(new_context, browser_user, live_url, project):
    add_job(number=7, tags=[])
    page = new_context(browser_user, java_script_enabled=False).new_page()
    page.goto(live_url("/p/53/job/1/7/"))
    page.get_by_label("Add a tag").fill("plain")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("Tag plain added.")).to_be_visible()
    expect(page.get_by_role("list", name="Tags of 53/1/7")).to_contain_text("plain")
    assert Job.objects.get(key="53/1/7").tags == ["plain"]


def test_previous_and_next_run_swap_in_place(page, live_url, project):
    add_jobs(*(job_line(number=n, ts=BASE_TS + n * 1000) for n in (1, 2, 3)))
    page.goto(live_url("/p/53/job/1/2/"))
    page.evaluate("window.stillHere = true")
    page.get_by_role("link", name=re.compile("Next run")).click()
    expect(page).to_have_url(live_url("/p/53/job/1/3/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("53/1/3")
    assert page.evaluate("window.stillHere") is True
    expect(page).to_have_title(re.compile("53/1/3"))


def test_bulk_tag_all_matching_jobs_from_the_list(page, live_url, project):
    # more jobs than a list page shows, and some the filter leaves out
    add_jobs(*(job_line(number=n, ts=BASE_TS + n * 1000) for n in range(1, 61)))
    add_jobs(
        *(job_line(spider="news", spider_number=2, number=n, ts=BASE_TS + n * 1000) for n in range(1, 4))
    )
    page.goto(live_url("/p/53/?spider=books&state=finished"))
    toolbar = page.locator("#bulk-toolbar")
    toolbar.get_by_label(re.compile("all 60 jobs matching this filter")).check()
    toolbar.get_by_label("Action").select_option("add_tag")
    toolbar.get_by_label("Tag", exact=True).fill("campaign")
    toolbar.get_by_role("button", name="Apply…").click()
    confirm = page.get_by_role("button", name="Yes, add tag “campaign” to 60 jobs")
    expect(confirm).to_be_visible()
    expect(confirm).to_be_focused()  # keyboard users land on the question
    assert not Job.objects.filter(tags__overlap=["campaign"]).exists()
    confirm.click()
    expect(page.get_by_text("Done: add tag “campaign” to 60 jobs.")).to_be_visible()
    assert Job.objects.filter(tags__overlap=["campaign"]).count() == 60
    assert not Job.objects.filter(spider__name="news", tags__overlap=["campaign"]).exists()
    action = BulkAction.objects.get()
    assert (action.action, action.count, action.user.username) == ("add_tag", 60, "alice")
    # back on the same filtered list
    assert "spider=books" in page.url


def test_bulk_delete_selected_rows(page, live_url, project):
    add_jobs(*(job_line(number=n, ts=BASE_TS + n * 1000) for n in range(1, 6)))
    page.goto(live_url("/p/53/?state=finished"))
    page.get_by_label("Select 53/1/5").check()
    page.get_by_label("Select 53/1/4").check()
    toolbar = page.locator("#bulk-toolbar")
    toolbar.get_by_label("Action").select_option("delete")
    toolbar.get_by_role("button", name="Apply…").click()
    page.get_by_role("button", name="Yes, delete 2 jobs").click()
    expect(page.get_by_text("Done: delete 2 jobs.")).to_be_visible()
    assert sorted(Job.objects.filter(state="deleted").values_list("key", flat=True)) == ["53/1/4", "53/1/5"]


def test_bulk_restore_without_javascript(new_context, browser_user, live_url, project):
    add_jobs(*(job_line(number=n, state="deleted", ts=BASE_TS + n * 1000) for n in range(1, 4)))
    page = new_context(browser_user, java_script_enabled=False).new_page()
    page.goto(live_url("/p/53/?state=deleted"))
    page.get_by_label("Select 53/1/2").check()
    toolbar = page.locator("#bulk-toolbar")
    toolbar.get_by_label("Action").select_option("restore")
    toolbar.get_by_role("button", name="Apply…").click()
    # a page of its own, saying how many
    expect(page.get_by_role("heading", name="Bulk action on books")).to_be_visible()
    page.screenshot(path="/tmp/h3b_confirm_nojs.png")
    page.get_by_role("button", name=re.compile("Yes, restore 1 job")).click()
    expect(page.get_by_text("Done: restore 1 job")).to_be_visible()
    assert "state=deleted" in page.url
    assert Job.objects.get(key="53/1/2").state == "finished"
    assert Job.objects.filter(state="deleted").count() == 2


def test_a_selected_live_row_stays_selected_through_refreshes(page, live_url, project):
    add_jobs(job_line(number=1, state="running", running_time=BASE_TS, ts=BASE_TS))
    page.goto(live_url("/p/53/?state=running"))
    box = page.get_by_label("Select 53/1/1")
    box.check()
    # the list redraws live rows every few seconds (out-of-band swaps)
    with page.expect_response(lambda response: "/p/53/live" in response.url, timeout=20_000):
        pass
    page.wait_for_timeout(300)
    expect(box).to_be_checked()


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("path", ["/p/53/job/1/7/", "/keys/", "/p/53/?state=finished"])
def test_every_control_has_a_label(page, live_url, project, path):
    add_job(number=7, tags=["a"])
    page.goto(live_url(path))
    assert page.evaluate(UNLABELLED) == []


def test_phone_and_dark_mode(new_context, browser_user, live_url, project):
    add_job(
        number=7,
        tags=["a"],
        scrapystats={"downloader/request_count": 1, "downloader/response_bytes": 123456789},
    )
    page = new_context(browser_user, viewport={"width": 360, "height": 740}, color_scheme="dark").new_page()
    page.goto(live_url("/p/53/job/1/7/"))
    # nothing wider than the screen, and the page follows the dark palette
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"


def test_keyboard_focus_is_visible(page, live_url, project):
    add_job(number=7, tags=["a"])
    page.goto(live_url("/p/53/job/1/7/"))
    page.get_by_label("Add a tag").focus()
    page.keyboard.press("Shift+Tab")  # back to the remove button, by keyboard
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Remove tag a"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")


def test_select_every_job_on_the_page(page, live_url, project):
    add_jobs(*(job_line(number=n, ts=BASE_TS + n * 1000) for n in range(1, 4)))
    page.goto(live_url("/p/53/?state=finished"))
    toolbar = page.locator("#bulk-toolbar")
    toolbar.get_by_label("every job on this page").check()
    for key in ("53/1/1", "53/1/2", "53/1/3"):
        expect(page.get_by_label(f"Select {key}")).to_be_checked()
    toolbar.get_by_label("Tag", exact=True).fill("page")
    toolbar.get_by_role("button", name="Apply…").click()
    expect(page.get_by_role("button", name="Yes, add tag “page” to 3 jobs")).to_be_visible()
    toolbar.get_by_label("every job on this page").uncheck()
    expect(page.get_by_label("Select 53/1/2")).not_to_be_checked()

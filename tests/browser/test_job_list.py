"""The job list in Chromium: htmx filtering with the URL kept in step, the back
button, pages, live refresh, keyboard shortcuts, the time zone, and the same
form without JavaScript."""

import re

import pytest
from playwright.sync_api import expect

from jobs import listing
from jobs.views import job_list as job_list_views

from ..factories import BASE_TS, add_jobs, job_line

pytestmark = pytest.mark.browser

ALL = "state=pending&state=running&state=finished"


@pytest.fixture
def jobs(project):
    """Nine jobs: 53/1/1-6 finished (odd ones tagged nightly), 53/2/7 running,
    53/2/8 pending, 53/1/9 deleted."""
    add_jobs(
        *(job_line(number=n, tags=["nightly"] if n % 2 else []) for n in range(1, 7)),
        job_line(spider="quotes", spider_number=2, number=7, state="running", running_time=BASE_TS),
        job_line(spider="quotes", spider_number=2, number=8, state="pending"),
        job_line(number=9, state="deleted"),
    )


def keys(page):
    return page.locator("#jobs td.key a").all_inner_texts()


def settled(page):
    """Wait until no htmx request is in flight: a swap landing later would
    replace a field the test is typing into."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_filter_by_state_and_tag_updates_rows_and_url_then_back_restores(page, live_url, jobs):
    page.goto(live_url(f"/p/53/?{ALL}"))
    assert keys(page) == ["53/2/8", "53/2/7", "53/1/6", "53/1/5", "53/1/4", "53/1/3", "53/1/2", "53/1/1"]
    expect(page.locator("#match-count")).to_have_text("8")

    # Uncheck finished: htmx swaps the rows, the URL follows. (A click: the
    # swap may replace the checkbox before uncheck() could read it back.)
    page.get_by_label(re.compile(r"^finished")).click()
    expect(page).to_have_url(re.compile(r"/p/53/\?state=pending&state=running$"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/2/8", "53/2/7"])
    expect(page.locator("#match-count")).to_have_text("2")
    # The chart follows in its own request.
    expect(page.locator("#chart svg")).to_be_visible()
    expect(page.locator("#chart .legend")).to_have_text("pendingrunning")

    # Back to every live state, then add a tag chip through the text field.
    page.go_back()
    expect(page).to_have_url(live_url(f"/p/53/?{ALL}"))
    expect(page.locator("#jobs td.key a")).to_have_count(8)
    expect(page.get_by_label(re.compile(r"^finished"))).to_be_checked()
    settled(page)

    page.get_by_label("Add a tag the jobs must have").fill("nightly")
    page.get_by_label("Add a tag the jobs must have").press("Enter")
    expect(page).to_have_url(re.compile(r"has_tag=nightly"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/5", "53/1/3", "53/1/1"])
    expect(page.get_by_label("nightly", exact=True)).to_be_checked()
    settled(page)

    # The back button restores the filter before the tag.
    page.go_back()
    expect(page).to_have_url(live_url(f"/p/53/?{ALL}"))
    expect(page.locator("#jobs td.key a")).to_have_count(8)
    # And forward again.
    page.go_forward()
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/5", "53/1/3", "53/1/1"])


def test_back_shows_the_jobs_as_they_are_now_and_the_tab_keeps_no_copy(page, live_url, jobs):
    page.goto(live_url(f"/p/53/?{ALL}"))
    page.get_by_label(re.compile(r"^finished")).click()
    expect(page.locator("#jobs td.key a")).to_have_text(["53/2/8", "53/2/7"])
    settled(page)
    # A job finishes while the person looks at the live ones.
    add_jobs(job_line(number=10))

    page.go_back()
    expect(page).to_have_url(live_url(f"/p/53/?{ALL}"))
    # Fetched afresh, not htmx's snapshot of the page as it was: the new job is there.
    expect(page.locator("#jobs td.key a")).to_have_count(9)
    assert keys(page)[0] == "53/1/10"
    expect(page.locator("#match-count")).to_have_text("9")
    assert page.evaluate("() => sessionStorage.getItem('htmx-history-cache')") is None
    # The restored page is as live as a loaded one: a filter change still swaps the listing.
    settled(page)
    page.get_by_label(re.compile(r"^pending")).click()
    expect(page).to_have_url(re.compile(r"/p/53/\?state=running&state=finished$"))
    expect(page.locator("#jobs td.key a")).to_have_count(8)


def test_lacks_tag_and_spider_chips(page, live_url, jobs):
    page.goto(live_url(f"/p/53/?{ALL}"))
    page.get_by_label("Add a tag the jobs must not have").fill("nightly")
    page.get_by_label("Add a tag the jobs must not have").press("Enter")
    expect(page.locator("#jobs td.key a")).to_have_text(["53/2/8", "53/2/7", "53/1/6", "53/1/4", "53/1/2"])
    settled(page)
    page.get_by_label("Add a spider").fill("quotes")
    page.get_by_label("Add a spider").press("Enter")
    expect(page).to_have_url(re.compile(r"spider=quotes.*lacks_tag=nightly"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/2/8", "53/2/7"])
    settled(page)  # Enter sends change and submit; the first is aborted, let it land
    page.get_by_label("Add a spider").blur()  # close the autocomplete popup over the chips
    settled(page)
    # Unchecking the chip removes the filter. (A click, not uncheck(): the
    # swap replaces the checkbox before Playwright could read its state back.)
    chip = page.get_by_label("quotes", exact=True)
    expect(chip).to_be_checked()
    chip.click()
    expect(page.locator("#jobs td.key a")).to_have_count(5)
    expect(page).not_to_have_url(re.compile("spider="))


def test_clicking_a_row_tag_filters_by_it_and_the_key_opens_the_job(page, live_url, jobs):
    page.goto(live_url(f"/p/53/?{ALL}"))
    page.locator("#jobs a.tag", has_text="nightly").first.click()
    expect(page).to_have_url(live_url(f"/p/53/?{ALL}&has_tag=nightly"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/5", "53/1/3", "53/1/1"])
    settled(page)
    page.get_by_role("link", name="53/1/3").click()
    expect(page).to_have_url(live_url("/p/53/job/1/3/"))
    page.go_back()
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/5", "53/1/3", "53/1/1"])


def test_absolute_time_range_in_the_users_zone(new_context, browser_user, live_url, jobs):
    page = new_context(browser_user, timezone_id="Europe/Berlin").new_page()
    page.goto(live_url("/p/53/?state=finished"))
    expect(page.locator("body")).to_have_attribute("data-tz", "Europe/Berlin")
    # Jobs 53/1/n have ts BASE_TS + n s; BASE_TS is 2023-11-14 22:13:20 UTC, 23:13:20 in Berlin.
    page.get_by_label("From").fill("2023-11-14T23:13:23")
    expect(page.locator("#jobs td.key a")).to_have_count(6)  # nothing sent while typing
    page.get_by_label("From").blur()  # (Tab walks the field's own date parts first)
    expect(page).to_have_url(live_url(f"/p/53/?state=finished&startts={BASE_TS + 3000}"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/6", "53/1/5", "53/1/4", "53/1/3"])
    settled(page)
    page.get_by_label("To").fill("2023-11-14T23:13:25")
    page.get_by_label("To").press("Enter")
    expect(page).to_have_url(
        live_url(f"/p/53/?state=finished&startts={BASE_TS + 3000}&endts={BASE_TS + 5000}")
    )
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/4", "53/1/3"])
    expect(page.get_by_label("From")).to_have_value("2023-11-14T23:13:23")


def test_tag_autocomplete_asks_the_server_as_you_type(page, live_url, jobs):
    from jobs.models import Tag

    Tag.objects.bulk_create([Tag(project_id=53, name=f"run-{n:04d}") for n in range(900)])
    page.goto(live_url("/p/53/?state=finished"))
    # The page lists the first 500 tags; typing asks for the matching ones.
    page.get_by_label("Add a tag the jobs must have").press_sequentially("0899")
    expect(page.locator("#tag-options option")).to_have_count(1)
    expect(page.locator("#tag-options option")).to_have_attribute("value", "run-0899")


def test_paginate_older_and_newer(page, live_url, jobs, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 3)
    page.goto(live_url("/p/53/?state=finished"))
    assert keys(page) == ["53/1/6", "53/1/5", "53/1/4"]
    page.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(live_url("/p/53/?state=finished&before=53%2F1%2F4"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/3", "53/1/2", "53/1/1"])
    expect(page.locator(".pager")).not_to_contain_text(re.compile("Older →$"))
    page.get_by_role("link", name="← Newer").click()
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/6", "53/1/5", "53/1/4"])
    page.go_back()
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/3", "53/1/2", "53/1/1"])


def test_works_without_javascript(new_context, browser_user, live_url, jobs, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    page = new_context(browser_user, java_script_enabled=False).new_page()
    page.goto(live_url(f"/p/53/?{ALL}"))
    assert keys(page) == ["53/2/8", "53/2/7"]
    page.get_by_label(re.compile(r"^pending")).uncheck()
    page.get_by_label(re.compile(r"^running")).uncheck()
    page.get_by_label("Add a tag the jobs must have").fill("nightly")
    page.get_by_role("button", name="Apply", exact=True).click()
    # The plain GET redirects to the canonical, API-valid URL.
    expect(page).to_have_url(live_url("/p/53/?state=finished&has_tag=nightly"))
    assert keys(page) == ["53/1/5", "53/1/3"]
    page.get_by_role("link", name="Older →").click()
    assert keys(page) == ["53/1/1"]
    # A preset is a submit button.
    page.get_by_role("button", name="Last hour").click()
    expect(page).to_have_url(re.compile(r"state=finished&startts=\d+&has_tag=nightly$"))
    expect(page.locator("tr.empty")).to_be_visible()


def test_live_rows_counts_and_new_jobs_notice(page, live_url, jobs, monkeypatch):
    monkeypatch.setattr(job_list_views, "LIVE_SECONDS", 1)
    page.goto(live_url(f"/p/53/?{ALL}"))
    expect(page.locator("#count-running")).to_have_text("1")
    page.get_by_label("Select 53/2/7").check()  # a bulk selection survives the refresh
    unchanged = page.locator("#jobs tr", has=page.locator("text=53/2/8"))
    unchanged.evaluate("row => row.dataset.marker = 'same element'")
    # Elsewhere, the running job finishes and a new job is pushed.
    from jobs.models import Job

    add_jobs(
        job_line(spider="quotes", spider_number=2, number=7, state="finished", ts=BASE_TS + 20_000),
        job_line(number=10, state="pending", ts=BASE_TS + 30_000),
    )
    assert Job.objects.get(key="53/2/7").state == "finished"
    row = page.locator("#jobs tr", has=page.locator("text=53/2/7"))
    expect(row.locator(".state")).to_have_text("finished", timeout=8000)
    expect(page.locator("#count-running")).to_have_text("0")
    expect(page.get_by_label("Select 53/2/7")).to_be_checked()
    expect(page.get_by_label("Select 53/2/7")).to_be_focused()  # the refresh kept the focus
    # A watched row whose text did not change is left alone (no flicker).
    expect(unchanged).to_have_attribute("data-marker", "same element")
    expect(page.locator("#count-pending")).to_have_text("2")
    notice = page.locator(".new-jobs")
    # 53/2/7 moved to the top by finishing, but it is on the page: one new job.
    expect(notice).to_have_text(re.compile(r"1 new job\b"))
    # The rows did not move under the cursor.
    assert keys(page)[0] == "53/2/8"
    notice.click()
    expect(page.locator("#jobs td.key a").first).to_have_text("53/1/10")
    expect(page.locator(".new-jobs")).to_have_count(0)


def test_counts_that_no_counter_answers_arrive_after_the_rows(page, live_url, jobs):
    """Two tags: the page comes without its per-state counts, and its live
    refresh brings them at once, not after its 5 seconds."""
    lives = []
    page.on("request", lambda request: "/live?" in request.url and lives.append(request.url))
    page.goto(live_url(f"/p/53/?{ALL}&has_tag=nightly&has_tag=other"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/1/5", "53/1/3", "53/1/1"])
    expect(page.locator("#count-finished")).to_have_text("3", timeout=3000)
    expect(page.locator("#count-running")).to_have_text("0")
    expect(page.locator("#match-count")).to_have_text("3")
    assert len(lives) == 1
    page.wait_for_timeout(1000)
    assert len(lives) == 1  # counted once: the next refresh waits its turn


def test_polling_pauses_while_the_tab_is_hidden(page, live_url, jobs, monkeypatch):
    monkeypatch.setattr(job_list_views, "LIVE_SECONDS", 1)
    polls = []
    page.on("request", lambda request: "/live?" in request.url and polls.append(request.url))
    page.goto(live_url(f"/p/53/?{ALL}"))
    page.wait_for_timeout(2500)
    assert polls, "the page polls while visible"
    page.evaluate(
        """() => {
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    )
    page.wait_for_timeout(300)
    seen = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == seen


def test_keyboard_shortcuts(page, live_url, jobs):
    page.goto(live_url(f"/p/53/?{ALL}"))
    page.keyboard.press("/")
    expect(page.get_by_label("Add a spider")).to_be_focused()
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    expect(page.get_by_role("link", name="53/2/8", exact=True)).to_be_focused()
    page.keyboard.press("j")
    expect(page.get_by_role("link", name="53/2/7", exact=True)).to_be_focused()
    page.keyboard.press("k")
    expect(page.get_by_role("link", name="53/2/8", exact=True)).to_be_focused()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()


def test_times_in_the_browser_zone(new_context, browser_user, live_url, project):
    add_jobs(
        job_line(
            number=1, ts=1_700_000_000_000, running_time=1_699_999_000_000, finished_time=1_700_000_000_000
        )
    )
    page = new_context(browser_user, timezone_id="Asia/Tokyo").new_page()
    page.goto(live_url("/p/53/?state=finished"))
    # jobq.js sets the tz cookie and redraws the page once in that zone.
    expect(page.locator("body")).to_have_attribute("data-tz", "Asia/Tokyo")
    expect(page.locator("#jobs time").last).to_have_text("2023-11-15 07:13:20")
    expect(page.locator("#jobs thead")).to_contain_text("Asia/Tokyo")
    assert page.locator("#jobs time").last.get_attribute("title").endswith("ago")
    # Hovering recomputes it in the browser, so an old page still tells the truth.
    page.locator("#jobs time").last.evaluate("t => t.title = 'stale'")
    page.locator("#jobs time").last.hover()
    expect(page.locator("#jobs time").last).to_have_attribute("title", re.compile(r"^\d+ days ago$"))


def test_copy_as_curl(new_context, browser_user, live_url, jobs):
    context = new_context(browser_user)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_url("").rstrip("/"))
    page = context.new_page()
    page.goto(live_url("/p/53/?state=running&has_tag=nightly"))
    page.get_by_role("button", name="Copy as curl").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"curl -u \"$SHUB_APIKEY:\" '{live_url('/jobq/53/list?state=running&has_tag=nightly')}'"
    page.get_by_role("button", name="Copy as Python").click()
    assert "jobs.iter(state=['running'], has_tag=['nightly'])" in page.evaluate(
        "navigator.clipboard.readText()"
    )


def test_dark_mode_phone_layout_and_visible_focus(new_context, browser_user, live_url, jobs):
    dark = new_context(browser_user, color_scheme="dark").new_page()
    dark.goto(live_url(f"/p/53/?{ALL}"))
    assert dark.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"

    phone = new_context(browser_user, viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    phone.goto(live_url(f"/p/53/?{ALL}"))
    # The page itself fits the screen; only the table scrolls sideways, in its box.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.evaluate("document.querySelector('.table-wrap').scrollWidth") > 390

    phone.keyboard.press("Tab")
    assert phone.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"


def test_project_picker(new_context, live_url, project, other_project, django_user_model):
    root = django_user_model.objects.create_user("sam", is_staff=True, is_superuser=True)
    page = new_context(root).new_page()
    page.goto(live_url("/p/53/?state=finished"))
    page.locator(".picker summary").click()
    other = page.get_by_role("link", name="other #54")
    expect(other).to_be_visible()
    page.keyboard.press("Escape")
    expect(other).to_be_hidden()
    page.locator(".picker summary").click()
    other.click()
    expect(page).to_have_url(live_url("/p/54/?state=pending&state=running&state=finished"))


def test_typing_survives_a_listing_swap_that_lands_meanwhile(page, live_url, jobs):
    """Someone unticks a state, then starts typing a tag before the answer
    comes back: the swapped-in form keeps what they typed."""
    page.goto(live_url(f"/p/53/?{ALL}"))
    settled(page)
    held = []
    listing = re.compile(r"/p/53/\?(?!.*finished)")  # the listing after unticking, not /live or /chart
    page.route(lambda url: bool(listing.search(url)), lambda route: held.append(route))
    page.get_by_label(re.compile(r"^finished")).uncheck()
    page.wait_for_function("() => document.querySelector('.htmx-request')")
    field = page.get_by_label("Add a tag the jobs must have")
    field.click()
    field.press_sequentially("nigh")
    page.wait_for_timeout(100)
    assert len(held) == 1
    held[0].continue_()
    expect(page).to_have_url(re.compile(r"/p/53/\?state=pending&state=running$"))
    expect(page.locator("#jobs td.key a")).to_have_text(["53/2/8", "53/2/7"])
    expect(field).to_have_value("nigh")
    expect(field).to_be_focused()
    page.unroute_all()
    field.press_sequentially("tly")
    field.press("Enter")
    expect(page).to_have_url(re.compile(r"has_tag=nightly"))

"""Spider health in Chromium: every outcome's badge, the usual hint on a
job whose items dropped, the overview putting a broken spider first, and
comparing two runs picked on the list."""

import re

import pytest
from playwright.sync_api import expect

from jobs.jobmeta import now_ms
from jobs.outcomes import OUTCOMES

from ..factories import add_jobs, job_line
from ..health_factories import HOUR, MINUTE, history

pytestmark = pytest.mark.browser

REASON_OF = {
    "finished": "finished",
    "failed": "failed",
    "cancelled": "cancelled",
    "limit": "closespider_itemcount",
    "timeout": "closespider_timeout",
    "memory": "memusage_exceeded",
    "shutdown": "shutdown",
    "other": "banned",
}


def test_each_outcome_has_its_badge_on_the_list_and_the_detail_page(page, live_url, project):
    add_jobs(
        *(job_line(number=n, close_reason=REASON_OF[o.value]) for n, o in enumerate(OUTCOMES, start=1)),
        job_line(number=20, state="running"),
    )
    page.goto(live_url("/p/53/?state=finished&state=running"))
    colours = set()
    for number, outcome in enumerate(OUTCOMES, start=1):
        badge = page.locator(f"#jobs tr:has(a:text-is('53/1/{number}')) .state")
        expect(badge).to_have_text(outcome.label)
        expect(badge).to_have_class(f"state b-{outcome.value}")
        colours.add(badge.evaluate("el => getComputedStyle(el).color"))
    # Each outcome its own colour (finished and limit are both greens, but not the same).
    assert len(colours) == len(OUTCOMES)
    expect(page.locator("#jobs tr:has(a:text-is('53/1/20')) .state")).to_have_text("running")

    # The outcome filter narrows the list in place.
    page.get_by_label("outcome failed", exact=True).check()
    expect(page).to_have_url(re.compile(r"/p/53/\?state=running&state=finished&outcome=failed$"))
    expect(page.locator("#jobs tbody tr")).to_have_count(1)

    page.goto(live_url("/p/53/job/1/6/"))
    expect(page.locator("#job-badge")).to_have_text("memory limit")
    expect(page.locator("#job-badge")).to_have_class("state b-memory")


def test_a_job_whose_items_dropped_shows_the_usual_hint(page, live_url, project):
    history(runs=12, items=1000)
    add_jobs(
        job_line(
            number=13,
            close_reason="finished",
            running_time=10**12 + 100 * HOUR,
            finished_time=10**12 + 100 * HOUR + 10 * MINUTE,
            ts=1_700_000_000_000 + 20 * HOUR,
            items=380,
            pages=2000,
            errors=0,
        )
    )
    page.goto(live_url("/p/53/?state=finished"))
    dropped = page.locator("#jobs tr:has(a:text-is('53/1/13'))")
    hint = dropped.locator(".usual")
    expect(hint).to_have_count(1)
    expect(hint).to_have_text("items −62%")
    expect(hint).to_have_attribute("title", "items: 380, usually 1,000 (median of 12 runs)")
    # A usual run carries no hint.
    expect(page.locator("#jobs tr:has(a:text-is('53/1/12')) .usual")).to_have_count(0)

    dropped.get_by_role("link", name="53/1/13").click()
    card = page.locator("#usual")
    expect(card).to_contain_text("Against the spider's usual")
    expect(card.locator("tr.far th")).to_have_text(["items"])
    expect(card.locator("tr.far td")).to_have_text(["380", "1,000", "−62% far from usual"])
    expect(card.locator("rect.this-run")).to_have_count(2)  # marked on the items and the duration charts


def test_the_overview_puts_a_broken_spider_first(page, live_url, project):
    start = now_ms() - 8 * HOUR - 30 * MINUTE  # hourly runs, the last 90 min ago: nobody is silent
    history("alpha", 1, runs=8, first=1, start=start)
    history("broken", 2, runs=8, first=1, start=start)
    history("zeta", 3, runs=8, first=1, start=start)
    add_jobs(
        job_line(
            spider="broken",
            spider_number=2,
            number=9,
            close_reason="failed",
            ts=now_ms() - HOUR,
            finished_time=now_ms() - HOUR,
        )
    )
    page.goto(live_url("/p/53/spiders/"))
    rows = page.locator("#spider-table tbody tr")
    expect(rows.first).to_have_attribute("data-spider", "broken")
    expect(rows.first.locator(".flag-failed")).to_have_text("last run: failed")
    expect(rows.first.locator(".state")).to_have_text("failed")
    expect(page.locator(".attention-count")).to_have_text("1 of 3 spiders needs attention")
    expect(rows.nth(1).locator(".flag")).to_have_count(0)
    page.get_by_role("link", name="Show only those").click()
    expect(page.locator("#spider-table tbody tr[data-spider]")).to_have_count(1)


def test_compare_two_runs_picked_on_the_list(page, live_url, project):
    add_jobs(
        job_line(
            number=1,
            items=100,
            close_reason="finished",
            scrapystats={"item_scraped_count": 100, "log_count/ERROR": 0},
        ),
        job_line(
            number=2,
            items=40,
            close_reason="failed",
            scrapystats={"item_scraped_count": 40, "log_count/ERROR": 3},
        ),
    )
    page.goto(live_url("/p/53/?state=finished"))
    page.get_by_label("Select 53/1/1").check()
    page.get_by_label("Select 53/1/2").check()
    page.get_by_role("button", name="Compare two…").click()
    expect(page).to_have_url(live_url("/p/53/compare/?key=53%2F1%2F2&key=53%2F1%2F1"))
    table = page.locator("#compare")
    # A is the first ticked (the newer run), B the other: changes are B against A.
    expect(table.locator("tr.differs", has_text="item_scraped_count")).to_contain_text("+60 (+150%)")
    expect(table.locator("tr.differs", has_text="close_reason")).to_contain_text("failed")
    page.get_by_label("only differences").check()
    expect(table.locator("tr.same").first).to_be_hidden()

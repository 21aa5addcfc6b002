"""Running a spider and cancelling jobs in Chromium: with htmx from the job
list, in a dialog; without JavaScript from a job's page, through plain pages."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import BulkAction, Job

from ..factories import add_jobs, job_line

pytestmark = pytest.mark.browser


def test_run_from_the_list_see_it_pending_cancel_it_see_it_cancelled(page, live_url, project):
    add_jobs(job_line(number=1), job_line(spider="news", spider_number=2, number=1))
    page.goto(live_url("/p/53/"))
    page.get_by_role("link", name="Run a spider…").click()
    dialog = page.get_by_role("dialog", name=re.compile("Run a spider"))
    expect(dialog).to_be_visible()

    dialog.get_by_label("Spider", exact=True).select_option("books")
    dialog.get_by_label("Value of argument 1").fill("poetry")
    # more rows, redrawn in the dialog, keeping what was typed
    dialog.get_by_role("button", name="More arguments").click()
    expect(dialog.get_by_label("Name of argument 4")).to_be_visible()
    expect(dialog.get_by_label("Value of argument 1")).to_have_value("poetry")
    dialog.get_by_role("button", name="Run").click()
    # a value without a name: the error is drawn in the dialog, what was typed stays
    expect(dialog.get_by_role("alert")).to_contain_text("Nothing was scheduled")
    expect(dialog).to_contain_text("The value “poetry” has no name")
    expect(dialog.get_by_label("Value of argument 1")).to_have_value("poetry")
    dialog.get_by_label("Name of argument 1").fill("category")
    dialog.get_by_label("Tags").fill("manual")
    dialog.get_by_label("Priority").select_option("3")
    dialog.get_by_role("button", name="Run").click()

    expect(page.get_by_text("Scheduled books as job 53/1/2")).to_be_visible()
    row = page.locator("#jobs tbody tr").first
    expect(row).to_contain_text("53/1/2")
    expect(row.locator(".state").first).to_have_text("pending")
    job = Job.objects.get(key="53/1/2")
    assert (job.state, job.spider_args, job.tags, job.priority, job.scheduled_by) == (
        "pending",
        {"category": "poetry"},
        ["manual"],
        3,
        "alice",
    )

    row.get_by_role("link", name="Cancel 53/1/2").click()
    confirm = page.get_by_role("dialog", name=re.compile("Cancel books"))
    expect(confirm).to_contain_text("it has not started")
    # "Keep it" closes the dialog and changes nothing
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    row.get_by_role("link", name="Cancel 53/1/2").click()
    confirm.get_by_role("button", name="Yes, cancel 53/1/2").click()

    expect(page.get_by_text("Cancelled books 53/1/2")).to_be_visible()
    row = page.locator("#jobs tbody tr").first
    expect(row).to_contain_text("53/1/2")
    # Finished, with the cancelled outcome.
    expect(row.locator(".state").first).to_have_text("cancelled")
    expect(row).to_contain_text("cancelled")
    expect(row.get_by_role("link", name="Cancel 53/1/2")).to_have_count(0)
    assert list(BulkAction.objects.order_by("id").values_list("action", flat=True)) == ["run", "cancel"]


def test_run_again_and_cancel_without_javascript(new_context, browser_user, live_url, project):
    add_jobs(job_line(number=1, spider_args={"category": "poetry"}, priority=4))
    page = new_context(browser_user, java_script_enabled=False).new_page()
    page.goto(live_url("/p/53/job/1/1/"))
    page.get_by_role("link", name="Run again…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Run a spider")
    expect(page.get_by_label("Name of argument 1")).to_have_value("category")
    expect(page.get_by_label("Value of argument 1")).to_have_value("poetry")
    page.get_by_role("button", name="Run").click()

    # the new job's page
    expect(page).to_have_url(live_url("/p/53/job/1/2/"))
    expect(page.get_by_text("Scheduled books as job 53/1/2")).to_be_visible()
    expect(page.locator(".job-head .state").first).to_have_text("pending")
    page.get_by_role("link", name="Cancel…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cancel books 53/1/2")
    page.get_by_role("button", name="Yes, cancel 53/1/2").click()

    expect(page).to_have_url(live_url("/p/53/job/1/2/"))
    expect(page.get_by_text("Cancelled books 53/1/2")).to_be_visible()
    # Finished, with the cancelled outcome.
    expect(page.locator(".job-head .state").first).to_have_text("cancelled")
    expect(page.locator(".close-reason")).to_contain_text("cancelled")
    job = Job.objects.get(key="53/1/2")
    assert (job.spider_args, job.priority, job.close_reason, job.meta) == (
        {"category": "poetry"},
        4,
        "cancelled",
        {"cancelled_by": "alice"},
    )

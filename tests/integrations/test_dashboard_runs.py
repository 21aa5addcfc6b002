"""A run scheduled from the dashboard's form (jobs/views/runs.py), posted
over HTTP like a browser does, is taken and run by the real jobq-worker; the
dashboard's cancel form stops the real crawl."""

import re
import socket

import requests
from django.conf import settings
from django.test import Client

from ..factories import add_job
from .conftest import figures, job_of, push, wait_for_state, wait_until


def dashboard_session(user):
    """requests logged in as `user` on the live server."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    return session


def csrf_token(browser, url):
    """The form's CSRF token, as a browser gets it with the page."""
    page = browser.get(url, timeout=30)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def test_a_run_scheduled_from_the_dashboard_is_run_by_the_worker(jobq, shub, site, worker, owner):
    add_job(spider="books", number=1)  # a spider becomes known with its first job
    browser = dashboard_session(owner)
    token = csrf_token(browser, f"{jobq.url}/p/53/run/?from=53/1/1")
    answer = browser.post(
        f"{jobq.url}/p/53/run/",
        data={
            "csrfmiddlewaretoken": token,
            "spider": "books",
            "arguments_name": ["pages", "per", "hold"],
            "arguments_value": ["4", "3", "3"],
            "tags": "dashboard",
            "priority": "2",
            "once": "1",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert (answer.status_code, answer.headers["Location"]) == (302, "/p/53/job/1/2/")
    assert job_of(shub, "53/1/2")["state"] == "pending"

    run = worker()
    # Held at page 3: running, and the dashboard's figures grow with the crawl.
    wait_until(lambda: 3 in site.waiting, "the crawl to reach page 3")
    wait_until(lambda: figures(shub, "53/1/2") == (6, 2), "jobq to show 6 items from 2 pages")
    assert job_of(shub, "53/1/2")["state"] == "running"
    page = browser.get(f"{jobq.url}/p/53/job/1/2/", timeout=30).text
    assert "so far" in page
    site.release(3)
    meta = wait_for_state(shub, "53/1/2", "finished")
    assert (meta["state"], meta["close_reason"], meta["items"]) == ("finished", "finished", 12)
    assert meta["spider_args"] == {"pages": "4", "per": "3", "hold": "3"} and meta["tags"] == ["dashboard"]
    assert (meta["scheduled_by"], meta["started_by"]) == ("owner", socket.gethostname())
    run.stop()
    browser.close()


def test_a_running_crawl_cancelled_from_the_dashboard_ends_cancelled(jobq, shub, worker, member):
    key = push(shub, "endless")
    run = worker()
    wait_until(lambda: (figures(shub, key)[0] or 0) >= 3, "the crawl to scrape 3 items")
    assert job_of(shub, key)["state"] == "running"

    browser = dashboard_session(member)
    cancel = f"{jobq.url}/p/53/job/1/1/cancel/"
    token = csrf_token(browser, cancel)
    answer = browser.post(
        cancel,
        data={"csrfmiddlewaretoken": token},
        headers={"Referer": cancel},
        allow_redirects=False,
        timeout=30,
    )
    assert (answer.status_code, answer.headers["Location"]) == (302, "/p/53/job/1/1/")
    meta = wait_for_state(shub, key, "finished")
    assert meta["close_reason"] == "cancelled" and meta["cancelled_by"] == "member"
    # The worker stopped the crawl, which closed gracefully and finished the job itself.
    assert meta["scrapystats"]["finish_reason"] == "shutdown" and meta["items"] >= 3
    assert "exit_code" not in meta
    wait_until(lambda: f"job {key}: the crawl exited" in run.output, f"the crawl of {key} to exit")
    run.stop()
    browser.close()

"""A run scheduled from the dashboard's form (jobs/views/runs.py), posted
over HTTP like a browser does, is taken and run by the real jobq-worker."""

import re
import socket

import requests
from django.conf import settings
from django.test import Client

from ..factories import add_job
from .conftest import job_of


def dashboard_session(user):
    """requests logged in as `user` on the live server."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    return session


def test_a_run_scheduled_from_the_dashboard_is_run_by_the_worker(jobq, shub, site, worker, owner):
    add_job(spider="books", number=1)  # a spider becomes known with its first job
    browser = dashboard_session(owner)
    form = browser.get(f"{jobq.url}/p/53/run/?from=53/1/1", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = browser.post(
        f"{jobq.url}/p/53/run/",
        data={
            "csrfmiddlewaretoken": token,
            "spider": "books",
            "arguments_name": ["pages", "per"],
            "arguments_value": ["2", "3"],
            "tags": "dashboard",
            "priority": "2",
            "once": "1",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert (answer.status_code, answer.headers["Location"]) == (302, "/p/53/job/1/2/")
    assert job_of(shub, "53/1/2")["state"] == "pending"

    assert worker("--exit-when-empty").wait() == 0
    meta = job_of(shub, "53/1/2")
    assert (meta["state"], meta["close_reason"], meta["items"]) == ("finished", "finished", 6)
    assert meta["spider_args"] == {"pages": "2", "per": "3"} and meta["tags"] == ["dashboard"]
    assert (meta["scheduled_by"], meta["started_by"]) == ("owner", socket.gethostname())
    browser.close()

"""Alerts that arrive: manage.py alert_worker's real loops (the database
queue's worker and the clock) deliver to a real webhook receiver and a real
SMTP server. Retries are shortened through settings; the receiver going
down and coming back is real (its port closes and reopens)."""

import hashlib
import hmac

import pytest
from django.core.management import call_command
from django.db import connection

from jobs.alerts.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER
from jobs.alerts.rules import new_secret
from jobs.models import Alert, AlertDelivery, AlertRule, Job

from ..alert_receivers import SmtpServer, WebhookReceiver, WorkerInThisThread, WorkerThreads
from ..health_factories import end_run, history


@pytest.fixture
def receiver():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def alert_settings(settings, smtp):
    settings.JOBQ_ALERT_RETRY_DELAYS = [0.2, 0.3, 0.5, 1, 1, 1, 1, 1]
    settings.JOBQ_ALERT_TIMEOUT = 5
    settings.JOBQ_BASE_URL = "https://jobq.example.com"
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": smtp.port, "timeout": 5},
        }
    }
    return settings


@pytest.fixture
def worker(transactional_db, alert_settings):
    """The worker's real loops: in threads on PostgreSQL, in this thread on
    SQLite (its in-memory test database takes one writer thread at a time)."""
    kind = WorkerThreads if connection.vendor == "postgresql" else WorkerInThisThread
    running = kind(tick_seconds=0.2).start()
    yield running
    running.stop()


def make_rule(project, receiver, **fields):
    fields.setdefault("name", fields.get("kind", "outcome"))
    fields.setdefault("emails", "ops@example.com")
    return AlertRule.objects.create(
        project=project, webhook_url=receiver.url, webhook_secret=new_secret(), **fields
    )


def verified(rule, request):
    """The request's JSON after checking its signature as docs/health.md shows."""
    headers = {name.lower(): value for name, value in request["headers"].items()}
    timestamp = headers[TIMESTAMP_HEADER.lower()]
    expected = hmac.new(
        rule.webhook_secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256
    )
    assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], "sha256=" + expected.hexdigest())
    return request["json"]


def all_sent():
    deliveries = list(AlertDelivery.objects.values_list("status", flat=True))
    return deliveries and all(status == "sent" for status in deliveries)


def test_a_failed_job_sends_one_signed_alert_and_one_email(project, receiver, smtp, worker):
    rule = make_rule(project, receiver, kind="outcome", accepted=["finished"])
    end_run(project, reason="finished")
    key = end_run(project, reason="failed")
    worker.wait_for(
        lambda: len(receiver.requests) >= 1 and len(smtp.messages) >= 1 and all_sent(), what="the alert"
    )
    [request] = receiver.requests
    body = verified(rule, request)
    assert body["event"] == "job.outcome"
    assert body["job"]["key"] == key and body["job"]["outcome"] == "failed"
    assert body["job"]["url"] == f"https://jobq.example.com/p/53/job/{key.split('/')[1]}/{key.split('/')[2]}/"
    assert body["rule"] == {"id": rule.pk, "name": rule.name, "kind": "outcome"}
    assert f"{key} ended: failed" in body["summary"]
    [mail] = smtp.messages
    assert mail["to"] == ["ops@example.com"]
    assert (
        f"{key} ended: failed" in mail["data"]
        and "Open in jobq: https://jobq.example.com/p/53/job/" in mail["data"]
    )
    # The same job changing again raises nothing new (one alert per rule and job).
    from jobs import lifecycle

    lifecycle.update_jobs(
        project=project, updates=[lifecycle.update_request({"key": key, "items": 5}, project=project)]
    )
    call_command("alert_worker", "--batch", "--no-clock")
    assert len(receiver.requests) == 1 and len(smtp.messages) == 1
    assert Alert.objects.count() == 1
    delivery = AlertDelivery.objects.get(channel="webhook")
    assert delivery.attempts == 1 and delivery.response == "HTTP 200 OK: thanks"


def test_a_drop_in_items_sends_one_alert(project, receiver, worker):
    rule = make_rule(project, receiver, kind="stat_below", stat="items", percent=50, emails="")
    history(runs=10, items=1000)
    end_run(project, items=950)  # usual: no alert
    key = end_run(project, items=380)
    worker.wait_for(lambda: receiver.requests and all_sent(), what="the alert")
    [request] = receiver.requests
    body = verified(rule, request)
    assert body["event"] == "job.stat_below" and body["job"]["key"] == key
    assert (
        body["details"]["usual"] == 1000
        and body["details"]["value"] == 380
        and body["details"]["runs"] == 11 - 0
    )
    assert "items 380 is 38% of the usual 1,000" in body["summary"]


def test_a_silent_spider_sends_one_alert(project, receiver, worker):
    rule = make_rule(project, receiver, kind="silent", hours=1, emails="")
    history(runs=6)  # the last run started in 2023: silent for years
    worker.wait_for(lambda: receiver.requests and all_sent(), what="the alert")
    body = verified(rule, receiver.requests[0])
    assert body["event"] == "spider.silent" and body["spider"] == "books" and body["job"] is None
    assert "books has started no run for" in body["summary"]
    # More ticks pass: the same silence is not reported twice.
    ticks = {"seen": 0}

    def five_more_ticks():
        from jobs.models import HealthClock

        ticks["seen"] += 1
        return ticks["seen"] > 5 and HealthClock.objects.exists()

    import time

    worker.wait_for(lambda: five_more_ticks() and not time.sleep(worker.clock.seconds), what="more ticks")
    assert len(receiver.requests) == 1
    assert Alert.objects.filter(rule=rule).count() == 1


def test_while_the_receiver_is_down_the_alert_is_retried_then_delivered(project, receiver, worker):
    rule = make_rule(project, receiver, kind="outcome", accepted=["finished"], emails="")
    receiver.stop()
    end_run(project, reason="memusage_exceeded")
    delivery = worker.wait_for(
        lambda: AlertDelivery.objects.filter(status="retrying", attempts__gte=2).first(),
        what="two failed attempts",
    )
    assert delivery.response.startswith("could not connect")
    receiver.start()
    worker.wait_for(all_sent, what="the delivery")
    [request] = receiver.requests
    assert verified(rule, request)["job"]["outcome"] == "memory"
    delivery.refresh_from_db()
    assert delivery.attempts >= 3 and delivery.response == "HTTP 200 OK: thanks"
    assert request["headers"]["X-Jobq-Delivery"] == str(delivery.pk)


def test_a_delivery_fails_for_good_after_the_last_retry(project, receiver, alert_settings, transactional_db):
    alert_settings.JOBQ_ALERT_RETRY_DELAYS = [0, 0]
    receiver.status = 500
    make_rule(project, receiver, kind="outcome", emails="")
    end_run(project, reason="failed")
    for _ in range(3):
        call_command("alert_worker", "--batch", "--no-clock")
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert delivery.response == "HTTP 500 Internal Server Error: thanks"
    assert len(receiver.requests) == 3


def test_the_batch_command_ticks_once_and_runs_what_is_queued(
    project, receiver, alert_settings, transactional_db
):
    make_rule(project, receiver, kind="running_long", hours=1, emails="")
    history(runs=1)
    from ..factories import add_job

    add_job(spider="books", number=50, state="running", running_time=1_600_000_000_000, ts=1_600_000_000_000)
    call_command("alert_worker", "--batch")
    [request] = receiver.requests
    assert request["json"]["event"] == "job.running_long" and request["json"]["job"]["key"] == "53/1/50"
    assert Job.objects.get(key="53/1/50").state == "running"


def deliver_queued():
    call_command("alert_worker", "--batch", "--no-clock")


def test_errors_above_the_limit_send_one_alert(project, receiver, alert_settings, transactional_db):
    rule = make_rule(project, receiver, kind="errors_above", errors=10, emails="")
    end_run(project, errors=10)  # at the limit: no alert
    key = end_run(project, errors=11)
    deliver_queued()
    [request] = receiver.requests
    body = verified(rule, request)
    assert body["event"] == "job.errors_above" and body["job"]["key"] == key
    assert body["job"]["errors"] == 11 and body["details"] == {"limit": 10}
    assert f"{key} logged 11 errors (the limit is 10)" in body["summary"]
    assert Alert.objects.count() == 1


def test_a_job_pending_too_long_sends_one_alert(project, receiver, alert_settings, transactional_db):
    from ..factories import add_job

    rule = make_rule(project, receiver, kind="pending_long", hours=2, emails="")
    add_job(spider="books", number=60, state="pending", pending_time=1_600_000_000_000, ts=1_600_000_000_000)
    # A job that waits, but not for long, and a running one that started long ago: neither is reported.
    from jobs import lifecycle

    lifecycle.push_jobs(
        project=project, pushes=[lifecycle.push_request({"spider": "books"}, project=project)]
    )
    add_job(spider="books", number=61, state="running", running_time=1_600_000_000_000, ts=1_600_000_000_000)
    call_command("alert_worker", "--batch")
    [request] = receiver.requests
    body = verified(rule, request)
    assert body["event"] == "job.pending_long" and body["job"]["key"] == "53/1/60"
    assert body["job"]["state"] == "pending" and body["details"] == {"hours": 2}
    assert "53/1/60 has been waiting to start for" in body["summary"]
    # The next tick reports the same wait no more.
    call_command("alert_worker", "--batch")
    assert len(receiver.requests) == 1
    assert Job.objects.get(key="53/1/60").state == "pending"


def test_a_drop_in_pages_sends_one_alert(project, receiver, alert_settings, transactional_db):
    rule = make_rule(project, receiver, kind="stat_below", stat="pages", percent=50, emails="")
    history(runs=10, items=1000)  # 2,000 pages each
    end_run(project, items=600)  # 1,200 pages: 60%, no alert
    key = end_run(project, items=400)  # 800 pages: 40%
    deliver_queued()
    [request] = receiver.requests
    body = verified(rule, request)
    assert body["event"] == "job.stat_below" and body["job"]["key"] == key
    assert body["details"]["stat"] == "pages"
    assert body["details"]["value"] == 800 and body["details"]["usual"] == 2000
    assert "pages 800 is 40% of the usual 2,000" in body["summary"]


def test_a_drop_in_any_scrapy_stat_sends_one_alert(project, receiver, alert_settings, transactional_db):
    stat = "downloader/response_bytes"
    rule = make_rule(project, receiver, kind="stat_below", stat=stat, percent=25, emails="")
    from ..factories import add_jobs, job_line

    add_jobs(
        *[
            job_line(number=index, close_reason="finished", scrapystats={stat: 1_000_000 + index})
            for index in range(1, 8)
        ],
        # A failed run is not part of the usual, however small its figure.
        job_line(number=8, close_reason="failed", scrapystats={stat: 10}),
    )
    end_run(project, stats={stat: 300_000})  # 30%: no alert
    key = end_run(project, stats={stat: 200_000})
    deliver_queued()
    [request] = receiver.requests
    body = verified(rule, request)
    assert body["event"] == "job.stat_below" and body["job"]["key"] == key
    details = body["details"]
    assert details["stat"] == stat and details["value"] == 200_000 and details["percent"] == 25
    # The median of the seven finished runs and the first run ending now (its 300,000).
    assert details["runs"] == 8 and details["usual"] == (1_000_003 + 1_000_004) / 2
    assert f"{stat} 200,000 is 20% of the usual" in body["summary"]


def test_a_rule_limited_to_spiders_and_tags_fires_only_for_them(
    project, receiver, alert_settings, transactional_db
):
    rule = make_rule(
        project, receiver, kind="outcome", spiders=["books", "news"], tags=["nightly"], emails=""
    )
    end_run(project, spider="books", reason="failed", tags=["hourly"])  # another tag
    end_run(project, spider="quotes", reason="failed", tags=["nightly"])  # another spider
    end_run(project, spider="books", reason="failed")  # no tag
    covered = [
        end_run(project, spider="books", reason="failed", tags=["nightly", "eu"]),
        end_run(project, spider="news", reason="cancelled", tags=["nightly"]),
    ]
    deliver_queued()
    keys = sorted(verified(rule, request)["job"]["key"] for request in receiver.requests)
    assert keys == sorted(covered)
    assert Alert.objects.count() == 2


def test_a_silent_rule_limited_to_spiders_ignores_the_others(
    project, receiver, alert_settings, transactional_db
):
    rule = make_rule(project, receiver, kind="silent", hours=1, spiders=["news"], emails="")
    history(spider="books", spider_number=1, runs=6)
    history(spider="news", spider_number=2, runs=6)
    call_command("alert_worker", "--batch")
    [request] = receiver.requests
    assert verified(rule, request)["spider"] == "news"


def test_the_slack_format_is_an_incoming_webhook_message(project, receiver, alert_settings, transactional_db):
    rule = make_rule(project, receiver, kind="outcome", webhook_format="slack", emails="")
    key = end_run(project, reason="failed")
    deliver_queued()
    [request] = receiver.requests
    body = verified(rule, request)  # signed all the same
    job_url = f"https://jobq.example.com/p/53/job/{key.split('/')[1]}/{key.split('/')[2]}/"
    assert body == {
        "text": f":rotating_light: books {key} ended: failed (close reason failed)\n<{job_url}|Open in jobq>"
    }
    assert request["headers"]["Content-Type"] == "application/json"


def test_a_write_that_rolls_back_leaves_no_alert(project, receiver, alert_settings, transactional_db):
    from django.db import transaction

    make_rule(project, receiver, kind="outcome", emails="")

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        key = end_run(project, reason="failed")
        assert Alert.objects.count() == 1  # recorded inside the write's transaction…
        raise Undone
    # …and gone with it: no job, no alert, no delivery, nothing queued or sent.
    assert not Job.objects.filter(key=key).exists()
    assert Alert.objects.count() == 0 and AlertDelivery.objects.count() == 0
    deliver_queued()
    assert receiver.requests == []


def test_imported_jobs_raise_no_alert(project, receiver, alert_settings, transactional_db, tmp_path):
    import orjson

    from ..factories import job_line

    make_rule(project, receiver, kind="outcome", emails="")
    make_rule(project, receiver, kind="errors_above", name="errors", errors=0, emails="")
    history(runs=6)
    lines = tmp_path / "jobs.jl"
    lines.write_bytes(
        b"\n".join(
            orjson.dumps(job_line(number=number, close_reason="failed", errors=50, items=0))
            for number in (100, 101)
        )
    )
    call_command("import_jobs", str(lines), verbosity=0)
    assert Job.objects.filter(close_reason="failed").count() == 2
    call_command("alert_worker", "--batch")
    assert Alert.objects.count() == 0 and receiver.requests == []


def test_a_delivery_stuck_in_sending_is_sent_again_by_the_next_tick(
    project, receiver, alert_settings, transactional_db
):
    """A worker died mid-send: its lease runs out and the sweep queues the
    delivery again; the next worker sends it (again: at least once)."""
    from jobs.jobmeta import now_ms

    make_rule(project, receiver, kind="outcome", emails="")
    end_run(project, reason="failed")
    delivery = AlertDelivery.objects.get()
    now = now_ms()
    # As a dead worker left it; its task is gone from the queue.
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempts=1, last_attempt_at=now - 5000, lease_until=now + 60_000
    )
    call_command("alert_worker", "--batch")  # the lease still holds: nothing sent
    assert receiver.requests == []
    AlertDelivery.objects.filter(pk=delivery.pk).update(lease_until=now - 1)
    call_command("alert_worker", "--batch")
    [request] = receiver.requests
    assert request["headers"]["X-Jobq-Delivery"] == str(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2 and delivery.lease_until is None

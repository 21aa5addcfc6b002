"""The broker option for larger installs: the same deliveries through Redis
(RQ under django.tasks, JOBQ_TASKS_REDIS), run by RQ's own worker loop.
Uses Redis database 5 on 127.0.0.1, emptied before and after."""

import signal

import pytest
import redis
from django.tasks import task_backends

from jobs.alerts import worker as alert_worker
from jobs.alerts.rules import new_secret
from jobs.models import AlertDelivery, AlertRule

from ..alert_receivers import WebhookReceiver, wait_for
from ..health_factories import end_run

REDIS_URL = "redis://127.0.0.1:6379/5"


@pytest.fixture
def redis_queue(settings):
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis must run on 127.0.0.1:6379 (.ci/run starts it)", pytrace=False)
    client.flushdb()
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": REDIS_URL}}
    settings.JOBQ_ALERT_RETRY_DELAYS = [0.5, 0.5, 1, 1]
    _forget_backends()
    yield client
    client.flushdb()
    client.close()
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    _forget_backends()


def _forget_backends():
    """django.tasks keeps its backends: drop them so the TASKS setting is read again."""
    from asgiref.local import Local

    task_backends.__dict__.pop("settings", None)
    task_backends._settings = None
    task_backends._connections = Local(task_backends.thread_critical)


@pytest.fixture
def receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


def test_alerts_go_through_redis_with_retries(project, receiver, redis_queue, transactional_db):
    assert alert_worker.backend_kind() == "redis"
    AlertRule.objects.create(
        project=project, name="r", kind="outcome", webhook_url=receiver.url, webhook_secret=new_secret()
    )
    key = end_run(project, reason="failed")
    assert redis_queue.dbsize() > 0  # the delivery waits in Redis, not in the database queue

    def burst():
        alert_worker.Worker(batch=True).run()

    # The receiver is down: the attempt fails and RQ's scheduler holds the retry.
    burst()
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "retrying" and delivery.attempts == 1
    receiver.start()
    wait_for(lambda: burst() or AlertDelivery.objects.get().status == "sent", what="the retry through Redis")
    [request] = receiver.requests
    assert request["json"]["job"]["key"] == key
    assert AlertDelivery.objects.get().attempts == 2


def test_a_run_in_this_process_gives_the_shutdown_signals_back(redis_queue, transactional_db):
    """RQ's worker handles SIGTERM and SIGINT while it runs; once it returns,
    this process (and any process it forks) stops on SIGTERM again."""
    before = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    assert alert_worker.backend_kind() == "redis"
    alert_worker.Worker(batch=True).run()
    assert {number: signal.getsignal(number) for number in before} == before
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

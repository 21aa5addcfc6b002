"""Delivering an alert on one channel, once, with retries.

The `AlertDelivery` row is the truth: the task queue only says "look at
delivery N now". An attempt claims the row (status `sending`, a lease), sends
outside any transaction, then records the answer: `sent`, or `retrying` with
the next attempt due after JOBQ_ALERT_RETRY_DELAYS[attempt], or `failed`
after the last delay. A duplicate task, or one that comes early, finds the
row not due and does nothing; a worker that died mid-send leaves a lease
that runs out, and the sweep (`due_deliveries`) hands the row to the queue
again. Receivers can tell a resend by the X-Jobq-Delivery header.
"""

import datetime

from django.conf import settings
from django.db import transaction

from ..jobmeta import now_ms
from ..models import AlertDelivery
from . import channels

Status = AlertDelivery.Status
# A task may run this early (clock differences between hosts) and still count as due.
EARLY_MS = 1000
# Deliveries that should have been attempted this long ago are handed to the queue again.
SWEEP_GRACE_MS = 30_000
SWEEP_BATCH = 200


def lease_ms() -> int:
    """How long a claim holds: longer than any attempt can take."""
    return int(settings.JOBQ_ALERT_TIMEOUT * 3 * 1000) + 5000


def claim(delivery_id: int, now: int) -> AlertDelivery | None:
    """Mark the delivery as being sent, if it is due; None otherwise."""
    with transaction.atomic():
        delivery = (
            AlertDelivery.objects.select_for_update()
            .select_related("alert__rule")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in (Status.SENT, Status.FAILED):
            return None
        if delivery.status == Status.SENDING and (delivery.lease_until or 0) > now:
            return None  # another worker is sending it right now
        if delivery.next_attempt_at > now + EARLY_MS:
            return None  # not due: a duplicate task, or one that came early
        delivery.status = Status.SENDING
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.lease_until = now + lease_ms()
        delivery.save(update_fields=["status", "attempts", "last_attempt_at", "lease_until"])
    return delivery


def deliver(delivery_id: int, *, now: int | None = None) -> str:
    """One attempt at delivery `delivery_id`; returns its status afterwards."""
    delivery = claim(delivery_id, now or now_ms())
    if delivery is None:
        return "not due"
    alert = delivery.alert
    ok, answer = channels.send(delivery.channel, alert.rule, alert.payload, delivery_id=delivery.pk)
    done = now_ms()
    delays = settings.JOBQ_ALERT_RETRY_DELAYS
    delivery.response = answer
    delivery.lease_until = None
    if ok:
        delivery.status, delivery.sent_at = Status.SENT, done
    elif delivery.attempts <= len(delays):
        delivery.status = Status.RETRYING
        delivery.next_attempt_at = done + int(delays[delivery.attempts - 1] * 1000)
    else:
        delivery.status = Status.FAILED
    delivery.save(update_fields=["status", "sent_at", "next_attempt_at", "response", "lease_until"])
    if delivery.status == Status.RETRYING:
        from .tasks import enqueue_deliveries

        enqueue_deliveries([delivery.pk], at=delivery.next_attempt_at)
    return delivery.status


def due_deliveries(*, now: int | None = None) -> list[int]:
    """Deliveries the queue seems to have lost: due for a while and not done,
    or claimed by a worker whose lease ran out. The worker re-enqueues them."""
    now = now or now_ms()
    overdue = AlertDelivery.objects.filter(
        status__in=[Status.PENDING, Status.RETRYING], next_attempt_at__lte=now - SWEEP_GRACE_MS
    ).values_list("pk", flat=True)[:SWEEP_BATCH]
    stuck = AlertDelivery.objects.filter(status=Status.SENDING, lease_until__lt=now).values_list(
        "pk", flat=True
    )[:SWEEP_BATCH]
    return sorted({*overdue, *stuck})


def moment(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)

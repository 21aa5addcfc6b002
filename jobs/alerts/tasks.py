"""The django.tasks tasks of alerts, and handing deliveries to the queue.

With the default database backend (django-tasks-db) the queue is a table;
with JOBQ_TASKS_REDIS it is Redis (RQ). Either way `manage.py alert_worker`
runs the tasks.
"""

import logging
from collections.abc import Iterable

from django.tasks import task

from . import delivery

logger = logging.getLogger(__name__)


@task
def deliver_alert(delivery_id: int) -> str:
    """One attempt at one delivery (delivery.deliver)."""
    return delivery.deliver(delivery_id)


def enqueue_deliveries(ids: Iterable[int], *, at: int | None = None) -> None:
    """Hand deliveries to the queue, now or at `at` (ms). A queue that
    refuses (Redis down) loses nothing: the worker's sweep finds them later."""
    for delivery_id in ids:
        try:
            if at is None:
                deliver_alert.enqueue(delivery_id)
            else:
                deliver_alert.using(run_after=delivery.moment(at)).enqueue(delivery_id)
        except Exception:
            logger.warning(
                "Could not queue alert delivery %s; the worker's sweep will.", delivery_id, exc_info=True
            )

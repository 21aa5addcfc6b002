"""The worker: runs the queued tasks (alert deliveries) and, every
JOBQ_HEALTH_TICK seconds, evaluates the time-based rules and sweeps up
deliveries the queue lost.

`manage.py alert_worker` calls `run`: a clock thread ticks while the queue's
own worker loop runs in the calling thread: django-tasks-db's worker for the
database queue, RQ's (with its scheduler, for retries) when JOBQ_TASKS_REDIS
is set. Several workers may run: they take turns at the tick through one
conditional UPDATE of the `HealthClock` row, and a delivery is claimed
before it is sent.
"""

import logging
import signal
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connection
from django.tasks import task_backends

from ..jobmeta import now_ms
from ..models import HealthClock
from .delivery import due_deliveries
from .rules import evaluate_time_rules
from .tasks import enqueue_deliveries

logger = logging.getLogger(__name__)
CLOCK = "health"


@dataclass
class TickSummary:
    alerts: int
    requeued: int

    def __str__(self) -> str:
        return (
            f"{self.alerts} alert(s) raised by time-based rules, {self.requeued} delivery(ies) queued again."
        )


def tick(*, now: int | None = None) -> TickSummary:
    """Evaluate the time-based rules and re-queue lost deliveries, once."""
    now = now or now_ms()
    alerts = evaluate_time_rules(now=now)
    lost = due_deliveries(now=now)
    enqueue_deliveries(lost)
    return TickSummary(alerts, len(lost))


def take_turn(*, every_ms: int, now: int | None = None) -> bool:
    """True for the one worker whose turn it is to tick (one conditional UPDATE)."""
    now = now or now_ms()
    HealthClock.objects.get_or_create(name=CLOCK)
    return HealthClock.objects.filter(name=CLOCK, next_at__lte=now).update(next_at=now + every_ms) == 1


class Clock(threading.Thread):
    """Ticks every `seconds` while the worker runs; stops with `stop`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(name="jobq-health-clock", daemon=True)
        self.seconds = seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                if take_turn(every_ms=int(self.seconds * 1000)):
                    tick()
            except Exception:
                logger.exception("The health tick failed; trying again at the next one.")
            finally:
                close_old_connections()
            self.stopped.wait(self.seconds)
        connection.close()

    def stop(self) -> None:
        self.stopped.set()


def backend_kind() -> str:
    """ "database" or "redis": which queue the default task backend is."""
    backend = task_backends["default"]
    return "redis" if type(backend).__module__.startswith("django_tasks_rq") else "database"


SHUTDOWN_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGQUIT") if hasattr(signal, name)
)


class Worker:
    """The queue's worker loop, stoppable from another thread (tests)."""

    def __init__(self, *, interval: float = 1.0, batch: bool = False) -> None:
        self.interval = interval
        self.batch = batch
        self.kind = backend_kind()
        self._inner: object | None = None

    def run(self) -> None:
        # Both queues' workers take over the shutdown signals for a graceful
        # stop. A run inside a longer-lived process (a test, a batch) hands
        # them back when it ends: a handler left behind would make the
        # process and its forked children shrug off SIGTERM.
        previous = {number: signal.getsignal(number) for number in SHUTDOWN_SIGNALS}
        try:
            if self.kind == "redis":
                self._run_rq()
            else:
                self._run_database()
        finally:
            if threading.current_thread() is threading.main_thread():
                for number, handler in previous.items():
                    if handler is not None:
                        signal.signal(number, handler)

    def _run_database(self) -> None:
        from django.utils.crypto import get_random_string
        from django_tasks_db.management.commands.db_worker import Worker as DatabaseWorker

        worker = DatabaseWorker(
            queue_names=["*"],
            interval=self.interval,
            batch=self.batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )
        self._inner = worker
        worker.run()

    def _run_rq(self) -> None:
        import django_rq
        from django_tasks_rq import Job

        # SimpleWorker runs tasks in this process: the tasks are short HTTP and
        # SMTP calls, and forking a Django process per delivery buys nothing.
        worker = django_rq.get_worker("default", job_class=Job, worker_class="rq.SimpleWorker")
        self._inner = worker
        worker.work(with_scheduler=True, burst=self.batch, logging_level="WARNING")

    def stop(self) -> None:
        inner = self._inner
        if inner is None:
            return
        if self.kind == "redis":
            inner._stop_requested = True  # type: ignore[attr-defined]
        else:
            inner.running = False  # type: ignore[attr-defined]


def run(
    *, interval: float = 1.0, tick_seconds: float | None = None, batch: bool = False, clock: bool = True
) -> None:
    """Run the worker until stopped (or, with `batch`, until the queue is empty)."""
    seconds = settings.JOBQ_HEALTH_TICK if tick_seconds is None else tick_seconds
    if batch:
        if clock:
            tick()
        Worker(interval=interval, batch=True).run()
        return
    ticking = Clock(seconds) if clock else None
    if ticking is not None:
        ticking.start()
    try:
        Worker(interval=interval).run()
    finally:
        if ticking is not None:
            ticking.stop()

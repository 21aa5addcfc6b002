"""manage.py alert_worker: deliver alerts and evaluate the time-based rules."""

from django.core.management.base import BaseCommand

from jobs.alerts import worker


class Command(BaseCommand):
    help = (
        "Run the background worker: alert deliveries (with retries) from the task queue, and every "
        "JOBQ_HEALTH_TICK seconds the time-based alert rules. `make run` starts one."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between looks at an empty queue (default 1)"
        )
        parser.add_argument(
            "--tick", type=float, default=None, help="seconds between evaluations of the time-based rules"
        )
        parser.add_argument(
            "--batch", action="store_true", help="evaluate the rules once, run what is queued, then exit"
        )
        parser.add_argument(
            "--no-clock", action="store_true", help="run queued tasks only, no rule evaluation"
        )

    def handle(self, *, interval, tick, batch, no_clock, **options):
        kind = worker.backend_kind()
        if options["verbosity"] > 0 and not batch:
            self.stdout.write(f"jobq alert worker: {kind} queue; Ctrl-C stops it.")
        worker.run(interval=interval, tick_seconds=tick, batch=batch, clock=not no_clock)
        if batch:
            return "Queue empty."

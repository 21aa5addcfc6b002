from django.core.management.base import BaseCommand

from jobs.counts import rebuild_counters
from jobs.models import DayCount, DayTagCount, JobCount, TagCount


class Command(BaseCommand):
    help = (
        "Recompute every job counter (per state, per tag, per day, per day and tag) from the jobs table, "
        "in one transaction: after restoring a backup or writing jobs by hand in SQL. "
        "Writers wait while it runs; readers do not."
    )

    def handle(self, verbosity, **options):
        rebuild_counters()
        if verbosity:
            rows = ", ".join(
                f"{model.objects.count():,} {name}"
                for model, name in (
                    (JobCount, "state"),
                    (TagCount, "tag"),
                    (DayCount, "day"),
                    (DayTagCount, "day and tag"),
                )
            )
            self.stdout.write(f"Counters rebuilt: {rows} counter rows.")

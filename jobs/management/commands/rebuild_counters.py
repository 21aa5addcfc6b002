from django.core.management.base import BaseCommand, CommandError

from jobs.counts import rebuild_counters
from jobs.models import DayCount, DayTagCount, JobCount, Project, TagCount


class Command(BaseCommand):
    help = (
        "Recompute every job counter (per state, per tag, per day, per day and tag) from the jobs table, "
        "in one transaction: after restoring a backup or writing jobs by hand in SQL. "
        "Writers wait while it runs; readers do not."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--project",
            type=int,
            help="Only this project's counters; the other projects' are left as they are.",
        )

    def handle(self, verbosity, project, **options):
        if project is not None and not Project.objects.filter(pk=project).exists():
            raise CommandError(f"There is no project {project}.")
        rebuild_counters(project_id=project)
        if verbosity:
            scope = {} if project is None else {"project_id": project}
            rows = ", ".join(
                f"{model.objects.filter(**scope).count():,} {name}"
                for model, name in (
                    (JobCount, "state"),
                    (TagCount, "tag"),
                    (DayCount, "day"),
                    (DayTagCount, "day and tag"),
                )
            )
            self.stdout.write(f"Counters rebuilt: {rows} counter rows.")

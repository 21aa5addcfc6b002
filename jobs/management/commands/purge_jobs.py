from django.core.management.base import BaseCommand, CommandError

from jobs.models import Project
from jobs.ops.retention import BATCH_SIZE, PAUSE_SECONDS, count_candidates, planned_purges, run_purge


class Command(BaseCommand):
    help = (
        "Delete for good the jobs that the projects' retention policies no longer keep "
        "(deleted or finished more than N days ago), in small batches. Run it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, action="append", help="only this project (repeatable)")
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be deleted, delete nothing"
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="jobs per transaction")
        parser.add_argument(
            "--pause", type=float, default=PAUSE_SECONDS, help="seconds between batches, for other writers"
        )

    def handle(self, project, dry_run, batch_size, pause, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if pause < 0:
            raise CommandError("--pause cannot be negative.")
        projects = Project.objects.all()
        if project:
            projects = projects.filter(pk__in=project)
            missing = set(project) - set(projects.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"There is no project {', '.join(map(str, sorted(missing)))}.")
        purges = planned_purges(projects)
        for purge in purges:
            what = f"{purge.state} more than {purge.days} days ago"
            if dry_run:
                count_candidates(purge)
                line = f"Project {purge.project.pk}: {purge.jobs:,} jobs {what} would be deleted."
            else:
                run_purge(purge, batch_size=batch_size, pause=pause)
                line = f"Project {purge.project.pk}: {purge.jobs:,} jobs {what} deleted in {purge.batches} batch{'es' if purge.batches != 1 else ''}."
            if verbosity >= 1:
                self.stderr.write(line)
        total = sum(purge.jobs for purge in purges)
        covered = len({purge.project.pk for purge in purges})
        if dry_run:
            return (
                f"Dry run: {total:,} jobs would be deleted from {covered} project(s) with a retention policy."
            )
        return f"{total:,} jobs deleted from {covered} project(s) with a retention policy."

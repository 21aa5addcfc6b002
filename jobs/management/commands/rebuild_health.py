"""manage.py rebuild_health: recompute the spiders' health figures from the jobs."""

from django.core.management.base import BaseCommand, CommandError

from jobs.health import rebuild
from jobs.models import Project


class Command(BaseCommand):
    help = (
        "Recompute every spider's health figures (recent runs, runs per day, last start) from its "
        "jobs. Writes keep them up to date; run this after restoring a backup or upgrading."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, help="only this project")

    def handle(self, *, project, **options):
        chosen = None
        if project is not None:
            chosen = Project.objects.filter(pk=project).first()
            if chosen is None:
                raise CommandError(f"There is no project {project}.")
        return f"{rebuild(chosen)} spider(s) rebuilt."

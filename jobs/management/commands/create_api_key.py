from django.core.management.base import BaseCommand, CommandError

from jobs.models import ApiKey, Project


class Command(BaseCommand):
    help = "Create an API key for one or more projects (created if new); prints the key last."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, action="append", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--read-only", action="store_true")

    def handle(self, project, name, read_only, **options):
        if any(pid <= 0 for pid in project):
            raise CommandError("Project ids are positive integers.")
        projects = [Project.objects.get_or_create(pk=pid)[0] for pid in project]
        key, raw = ApiKey.generate(projects=projects, name=name, read_only=read_only)
        access = "read-only" if read_only else "read-write"
        self.stderr.write(
            f"Created {access} key {key.prefix}… for project(s) "
            f"{', '.join(str(p.pk) for p in projects)}. It is shown only now:"
        )
        return raw

import sys

from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from jobs.filters import JobFilter
from jobs.jobmeta import METADATA_COLUMNS, dumps_line, export_line
from jobs.models import STATES, Project, Spider
from jobs.ops.replicas import read_transaction


class Command(BaseCommand):
    help = "Export a project's jobs as JSON lines that import_jobs reads back."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True)
        parser.add_argument("--spider", action="append", default=[])
        parser.add_argument(
            "--state", action="append", choices=STATES, help="repeatable; default: every state"
        )
        parser.add_argument("--startts", help="inclusive lower bound on ts, ms")
        parser.add_argument("--endts", help="exclusive upper bound on ts, ms")
        parser.add_argument("--has-tag", action="append", default=[])
        parser.add_argument("--lacks-tag", action="append", default=[])
        parser.add_argument("-o", "--output", default="-", help="a file, or - for standard output")

    def handle(self, **options):
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"There is no project {options['project']}.")
        params = QueryDict(mutable=True)
        params.setlist("spider", options["spider"])
        params.setlist("state", options["state"] or STATES)
        params.setlist("has_tag", options["has_tag"])
        params.setlist("lacks_tag", options["lacks_tag"])
        for name in ("startts", "endts"):
            if options[name] is not None:
                params[name] = options[name]
        jobfilter = JobFilter(params, project=project)
        if not jobfilter.is_valid():
            raise CommandError(f"Bad filter: {jobfilter.form.errors.as_text()}")
        names = Spider.objects.names(project)
        # Closed below, unless it is standard output.
        out = sys.stdout.buffer if options["output"] == "-" else open(options["output"], "wb")  # noqa: SIM115
        written = 0
        try:
            # Rows as PostgreSQL finds them; on SQLite without holding the write lock.
            with read_transaction():
                rows = jobfilter.qs.newest_first().values(*METADATA_COLUMNS)
                for row in rows.iterator(chunk_size=2000):
                    out.write(dumps_line(export_line(row, names[row["spider_id"]])))
                    written += 1
        finally:
            if out is not sys.stdout.buffer:
                out.close()
            else:
                out.flush()
        self.stderr.write(f"{written} jobs exported from project {project.pk}.")

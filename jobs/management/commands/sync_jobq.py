from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError
from requests.exceptions import RequestException

from jobs.models import STATES
from jobs.sync import DEFAULT_WORKERS, FULL, LIST, SyncError, progress_line, sync_project


class Command(BaseCommand):
    help = (
        "Copy a project's jobs and metadata from another JobQ server (Scrapy Cloud or jobq), "
        "incrementally: each run copies only what is new or changed state since the last."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", required=True, help="the source's root URL, e.g. https://storage.scrapinghub.com/"
        )
        parser.add_argument("--apikey", required=True, help="an API key of the source (never stored)")
        parser.add_argument("--project", type=int, required=True, help="the source project")
        parser.add_argument("--into", type=int, help="the local project (default: the same id)")
        parser.add_argument(
            "--state", action="append", choices=STATES, help="repeatable; default: every state"
        )
        parser.add_argument(
            "--metadata",
            choices=[FULL, LIST],
            default=FULL,
            help="full: each job's GET /jobs/<key>, exact (default); list: the list's jobmeta= "
            "in pages of 1000, far faster, with only the standard fields and those named by --meta",
        )
        parser.add_argument("--meta", action="append", default=[], help="a custom field to copy in list mode")
        parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="concurrent /jobs/ requests")
        parser.add_argument(
            "--max-retries", type=int, help="retries of a failing request (client default: 3)"
        )
        parser.add_argument(
            "--max-retry-time", type=float, help="seconds to keep retrying (client default: 60)"
        )
        parser.add_argument(
            "--reset", action="store_true", help="forget earlier runs and walk the whole listing again"
        )

    def handle(self, **options):
        if options["project"] <= 0 or (options["into"] is not None and options["into"] <= 0):
            raise CommandError("Project ids are positive integers.")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        progress = None
        if options["verbosity"] >= 1:

            def progress(summary):
                self.stderr.write(progress_line(summary), ending="")
                self.stderr.flush()

        try:
            summary = sync_project(
                source_url=options["source"],
                apikey=options["apikey"],
                project=options["project"],
                into=options["into"],
                states=options["state"],
                metadata=options["metadata"],
                meta_fields=options["meta"],
                workers=options["workers"],
                max_retries=options["max_retries"],
                max_retry_time=options["max_retry_time"],
                reset=options["reset"],
                progress=progress,
            )
        except SyncError as exc:
            raise CommandError(f"{exc}. What was copied before is kept; run again to resume.") from None
        except RequestException as exc:
            raise CommandError(
                f"The source failed after retries: {exc}. What was copied before is kept; run again to resume."
            ) from None
        except OperationalError as exc:
            raise CommandError(
                f"The local database failed: {exc}. What was copied before is kept; run again to resume."
            ) from None
        finally:
            if progress:
                self.stderr.write("")
        return str(summary)

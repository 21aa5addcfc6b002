import sys

from django.core.management.base import BaseCommand, CommandError

from jobs.importing import BATCH_SIZE, ImportLineError, import_lines


class Command(BaseCommand):
    help = "Import jobs from JSON lines (a job's metadata plus its key per line); upserts by key."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a JSON lines file, or - for standard input")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="lines per transaction")

    def handle(self, file, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(summary):
            if options["verbosity"] >= 1:
                self.stderr.write(f"\r{summary.total} jobs imported…", ending="")

        try:
            stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115 (closed below; stdin is not)
        except OSError as exc:
            raise CommandError(str(exc)) from None
        try:
            summary = import_lines(stream, batch_size=batch_size, progress=progress)
        except ImportLineError as exc:
            raise CommandError(f"{file}: {exc}. Nothing of its batch was written.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: {exc}") from None
        finally:
            if stream is not sys.stdin:
                stream.close()
        if options["verbosity"] >= 1:
            self.stderr.write("")
        return str(summary)

import sys

from django.core.management.base import BaseCommand, CommandError

from jobs.importing import ImportLineError, import_lines


class Command(BaseCommand):
    help = "Import jobs from JSON lines (a job's metadata plus its key per line); upserts by key."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a JSON lines file, or - for standard input")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, file, batch_size, **options):
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

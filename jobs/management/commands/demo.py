import time

from django.core.management.base import BaseCommand

from jobs import health
from jobs.demo import DEMO_PROJECT_IDS, demo_jobs_loaded, ensure_demo_access, load_demo_jobs


class Command(BaseCommand):
    help = (
        "Load the demo jobs on the first run, make sure the demo login and API key "
        "exist (kept in VAR_DIR/demo-credentials.json), and print how to use them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="where the server will listen")
        parser.add_argument("--port", default="8000")

    def handle(self, host, port, **options):
        if demo_jobs_loaded():
            loaded = "Demo data already loaded."
        else:
            self.stderr.write("Loading the demo jobs (first run only)…")
            started = time.monotonic()
            summary = load_demo_jobs()
            loaded = f"Demo data loaded in {time.monotonic() - started:.1f} s: {summary}"
        # A database from before spider health: its figures, once.
        rebuilt = health.rebuild(missing_only=True)
        if rebuilt:
            loaded += f" Spider health figures computed for {rebuilt} spider(s)."
        access = ensure_demo_access()
        # Listening on every address: this machine reaches it on the loopback.
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
        project = DEMO_PROJECT_IDS[0]
        password = access.password or "(not shown: see the note above)"
        lines = [
            loaded,
            *access.notes,
            "",
            f"  jobq:     {url}",
            f"  login:    {access.username} / {password}   (also for {url}admin/)",
            f"  API key:  {access.api_key}   (projects {', '.join(map(str, DEMO_PROJECT_IDS))})",
            f"  curl:     curl -u {access.api_key}: {url}jobq/{project}/count",
            f"  python:   from scrapinghub import ScrapinghubClient; "
            f'print(ScrapinghubClient("{access.api_key}", endpoint="{url}").get_project({project}).jobs.count())',
            f"  health:   {url}healthz   metrics: {url}metrics (from this machine)",
            "",
        ]
        if shown != host:
            lines.append(
                "Listening on every address of this machine: to reach it by another name, "
                "add that name to ALLOWED_HOSTS (e.g. HOST=0.0.0.0 ALLOWED_HOSTS=jobq.lan,localhost make run)."
            )
        return "\n".join(lines)

#!/usr/bin/env python
"""jobq against raw PostgreSQL on one large project: `make bench`.

Prints one table and asserts nothing. The project (id 999000) lives in its
own database, BENCH_DATABASE_URL (default postgres://root@127.0.0.1:5432/jobq_bench),
migrated and generated with set-based SQL the first time, then reused while
its job count matches BENCH_JOBS (200,000 by default):

    make bench                              # 200,000 jobs
    BENCH_JOBS=10000000 make bench          # the issue's 10 million
    .venv/bin/python scripts/bench.py --repeat 30 --only list

Each measure is timed over HTTP against the production server (gunicorn with
jobqsite/gunicorn.conf.py, 2 workers) and, beside it, as the same work done
by raw psycopg: the very SQL the request ran (captured from Django in this
process), its rows encoded with orjson. The ratio is jobq's median over raw's.
"""

import argparse
import base64
import http.client
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
DEFAULT_DATABASE = "postgres://root@127.0.0.1:5432/jobq_bench"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobqsite.settings")
# This process runs as the local run does (jobqsite/settings.py); the server it starts does not.
os.environ.setdefault("JOBQ_LOCAL", "1")
if __name__ == "__main__":
    # The bench's own database, whatever DATABASE_URL the shell has.
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE
    os.environ["ACCESS_LOG"] = "0"

import django  # noqa: E402

django.setup()
warnings.filterwarnings("ignore", "No directory at", UserWarning)

import bench_data  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from jobs.jobmeta import STATS_FOR_SUMMARY  # noqa: E402
from jobs.models import ApiKey, Job, Project, Spider  # noqa: E402

# One project per size (900,200,000 holds 200,000 jobs), so the 10M project
# survives a run at the default size.
PROJECT_BASE = 900_000_000
PROJECT = PROJECT_BASE + 200_000
IMPORT_PROJECT = PROJECT_BASE - 1
DAY_MS = bench_data.DAY_MS
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def database_url() -> str:
    """The URL of the database this process uses, for the server it starts."""
    s = connection.settings_dict
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    at = f"{user}{password}@" if user else ""
    return f"postgres://{at}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def libpq_dsn() -> str:
    """The bench database as jobq connects to it, its options (no JIT) included,
    so that raw psycopg runs the SQL under the same settings."""
    s = connection.settings_dict
    parts = {"dbname": s["NAME"], "user": s.get("USER"), "password": s.get("PASSWORD"),
             "host": s.get("HOST") or "127.0.0.1", "port": s.get("PORT") or 5432,
             "options": s["OPTIONS"].get("options")}  # fmt: skip
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})


# --- the server -------------------------------------------------------------------


class Server:
    """The production server on the bench database, in its own process group."""

    def __init__(self, port: int, workers: int = 2):
        self.port = port
        self.log_path = Path(tempfile.gettempdir()) / f"bench-gunicorn-{port}.log"
        base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ", "USER"}}
        self.env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "jobqsite.settings",
            "DATABASE_URL": database_url(),
            # This process's key: the session it signs in with is valid there.
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "ACCESS_LOG": "0",
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        with socket.socket() as probe:
            # As gunicorn binds: the last run's connections, still in
            # TIME_WAIT, do not make the port taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                raise SystemExit(f"port {self.port} is taken (another bench?): pass --port") from None
        if not (ROOT / "staticfiles" / "staticfiles.json").exists():
            subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                           cwd=ROOT, env=self.env, check=True)  # fmt: skip
        log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "jobqsite/gunicorn.conf.py"],
            cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log_file.close()
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.__exit__()
        raise SystemExit(f"gunicorn did not start: see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def workers(self) -> list[str]:
        assert self.process
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return children.stdout.split()

    def worker_rss_mb(self, field: str = "VmHWM") -> int:
        """The largest worker's peak RSS (VmHWM) or RSS now (VmRSS), in MB."""
        sizes = []
        for child in self.workers():
            status = Path(f"/proc/{child}/status").read_text()
            sizes.append(int(status.split(f"{field}:")[1].split()[0]))
        return max(sizes, default=0) // 1024

    def reset_peak_rss(self) -> None:
        """Start the workers' peak RSS afresh (Linux: 5 > clear_refs), so that
        a peak read later is that of what ran in between."""
        for child in self.workers():
            Path(f"/proc/{child}/clear_refs").write_text("5")


# --- timing -------------------------------------------------------------------------


def cpu_check() -> float:
    """Seconds for a fixed piece of pure Python, best of 5. This machine's
    speed drifts by a third over minutes (other tenants): the same check
    between the parts of a run says how fast it was while each measured."""

    def once() -> float:
        started = time.perf_counter()
        total = 0
        for n in range(1_000_000):
            total += n * n
        return time.perf_counter() - started

    return min(once() for _ in range(5))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Http:
    """One keep-alive connection, as a client library holds it."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def get(self, path: str) -> tuple[int, bytes, float, float]:
        """(status, body, seconds to the first byte, seconds in all)."""
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
        first = response.read1(65536)
        first_byte = time.perf_counter() - started
        body = first + response.read()
        return response.status, body, first_byte, time.perf_counter() - started


def http_times(client: Http, path: str, repeat: int) -> tuple[bytes, list[float], list[float]]:
    status, body, _, _ = client.get(path)  # warm-up
    if status not in (200, 404):
        raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
    totals, firsts = [], []
    for _ in range(repeat):
        _, body, first, total = client.get(path)
        totals.append(total)
        firsts.append(first)
    return body, totals, firsts


def captured_sql(client: Client, path: str) -> list[str]:
    """The SELECTs a request runs, as sent (client-side binding: values inlined)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
        if response.streaming:
            next(iter(response.streaming_content), b"")
            response.close()
        else:
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
    # A server-side cursor is logged as the DECLARE that opens it.
    sqls = [
        re.sub(r"^DECLARE .*? CURSOR FOR ", "", q["sql"], flags=re.DOTALL) for q in captured.captured_queries
    ]
    return [
        sql
        for sql in sqls
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "set_config(" not in sql
    ]


def raw_times(raw: psycopg.Connection, sqls: list[str], repeat: int) -> list[float]:
    """Seconds to run every statement and encode its rows with orjson."""

    def once() -> float:
        started = time.perf_counter()
        with raw.cursor() as cursor:
            for sql in sqls:
                cursor.execute(sql.encode())
                orjson.dumps(cursor.fetchall(), default=str)
        return time.perf_counter() - started

    once()
    return [once() for _ in range(repeat)]


def raw_stream(raw: psycopg.Connection, sql: str) -> tuple[int, float, float]:
    """(rows, seconds to the first row, seconds in all) of a server-side cursor,
    each row encoded as one orjson line."""
    started = time.perf_counter()
    first, rows = None, 0
    with raw.transaction(), raw.cursor(name="bench") as cursor:
        cursor.itersize = 5000
        cursor.execute(sql.encode())
        while batch := cursor.fetchmany(5000):
            if first is None:
                first = time.perf_counter() - started
            for row in batch:
                orjson.dumps(row, default=str)
            rows += len(batch)
    return rows, first or 0.0, time.perf_counter() - started


def _hammer(args: tuple[int, dict[str, str], str, float]) -> int:
    port, headers, path, seconds = args
    client = Http(port, headers)
    done, stop = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        client.get(path)
        done += 1
    return done


def throughput(port: int, headers: dict[str, str], path: str, clients: int, seconds: float) -> float:
    """Requests per second of `clients` processes, each one request at a time.

    The clients are spawned, not forked: a fork of this process (threads of
    its own, or of a test runner's) may copy a lock another thread holds,
    and a forked client then waits on it forever."""
    pool = multiprocessing.get_context("spawn").Pool(clients)
    try:
        pool.map(_hammer, [(port, headers, path, 0.5)] * clients)  # warm-up
        started = time.perf_counter()
        done = sum(pool.map(_hammer, [(port, headers, path, seconds)] * clients))
        rate = done / (time.perf_counter() - started)
    except BaseException:
        pool.terminate()
        raise
    # The clients end on the pool's own sentinels: no signal needed.
    pool.close()
    pool.join()
    return rate


# --- the table -----------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    jobq: str
    jobq_p95: str
    raw: str
    ratio: str


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def print_table(rows: list[Row]) -> None:
    header = Row("measure", "jobq p50", "jobq p95", "raw psycopg p50", "ratio")
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in Row.__dataclass_fields__]
    for row in [header, None, *rows]:
        if row is None:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
            continue
        cells = [getattr(row, f).ljust(w) for f, w in zip(Row.__dataclass_fields__, widths, strict=True)]
        print("| " + " | ".join(cells) + " |")


# --- the measures --------------------------------------------------------------------


def newest_key(offset: int, **filters) -> str | None:
    jobs = Job.objects.for_project(PROJECT).filter(**filters).newest_first()
    return jobs.values_list("key", flat=True)[offset : offset + 1].first()


def api_cases(total: int) -> list[tuple[str, str]]:
    p = f"/jobq/{PROJECT}"
    now = int(time.time() * 1000)
    week = f"startts={now - 200 * DAY_MS}&endts={now - 193 * DAY_MS}"
    cases = [
        ("list-100: no filter", f"{p}/list?count=100"),
        ("list-100: spider=spider01", f"{p}/list?count=100&spider=spider01"),
        ("list-100: spider=spider50", f"{p}/list?count=100&spider=spider50"),
        ("list-100: state=running", f"{p}/list?count=100&state=running"),
        ("list-100: has_tag=rare", f"{p}/list?count=100&has_tag=rare"),
        ("list-100: has_tag=prod", f"{p}/list?count=100&has_tag=prod"),
        ("list-100: lacks_tag=prod", f"{p}/list?count=100&lacks_tag=prod"),
        ("list-100: one week", f"{p}/list?count=100&{week}"),
        (
            "list-100: spider+state+has_tag",
            f"{p}/list?count=100&spider=spider02&state=finished&has_tag=daily",
        ),
        ("count: no filter", f"{p}/count"),
        ("count: spider=spider50&state=running", f"{p}/count?spider=spider50&state=running"),
        ("count: has_tag=prod", f"{p}/count?has_tag=prod"),
        ("count: lacks_tag=prod", f"{p}/count?lacks_tag=prod"),
        ("count: has_tag=rare&spider=spider01", f"{p}/count?has_tag=rare&spider=spider01"),
        ("count: one week", f"{p}/count?{week}"),
        ("count: has_tag=backfill&lacks_tag=prod", f"{p}/count?has_tag=backfill&lacks_tag=prod"),
    ]
    for start in (100_000, 1_000_000):
        if start < total:
            cases.append((f"list-100: start={start:,}", f"{p}/list?count=100&start={start}"))
    return cases


def page_cases(total: int) -> list[tuple[str, str]]:
    base = f"/p/{PROJECT}/"
    job = Job.objects.for_project(PROJECT).filter(state="finished").newest_first().select_related("spider")
    detail = job.first()
    cases = [
        ("dashboard: no filter", base),
        ("dashboard: has_tag=backfill", f"{base}?has_tag=backfill"),
        ("dashboard: state=running", f"{base}?state=running"),
        ("dashboard: spider=spider01", f"{base}?spider=spider01"),
        # No counter answers two tags: the page comes without its counts
        # and its chart, which follow in their own requests.
        ("dashboard: has_tag=backfill&has_tag=prod", f"{base}?has_tag=backfill&has_tag=prod"),
        ("dashboard: its counts (live refresh)", f"{base}live?has_tag=backfill&has_tag=prod"),
    ]
    # Page 1,000 where the project has one (a tiny one: about its middle page).
    page = min(1000, max(2, total // 100))
    deep = newest_key(50 * (page - 1) - 1, state="finished")
    cases.append((f"dashboard: keyset page {page:,}", f"{base}?before={deep}"))
    cases += [
        ("dashboard: the chart", f"{base}chart"),
        ("job detail page", f"/p/{PROJECT}/job/{detail.spider.number}/{detail.number}/"),
        ("admin changelist: state=finished", f"/admin/jobs/job/?project={PROJECT}&state=finished"),
    ]
    admin_page = min(1000, max(2, total // 200))
    cases.append((f"admin changelist: page {admin_page:,}",
                  f"/admin/jobs/job/?project={PROJECT}&state=finished&p={admin_page - 1}"))  # fmt: skip
    return cases


def measure_requests(
    rows: list[Row], cases, client: Http, inproc: Client, raw: psycopg.Connection, repeat: int
) -> None:
    for name, path in cases:
        _, totals, _ = http_times(client, path, repeat)
        sqls = captured_sql(inproc, path)
        raws = raw_times(raw, sqls, repeat)
        p50, raw50 = statistics.median(totals), statistics.median(raws)
        rows.append(Row(name, ms(p50), ms(percentile(totals, 0.95)),
                        f"{ms(raw50)} ({len(sqls)} queries)", f"{p50 / raw50:.1f}×"))  # fmt: skip
        log(f"  {name}: {ms(p50)}")


def measure_throughput(rows: list[Row], port: int, headers: dict[str, str], seconds: float) -> None:
    listing = throughput(port, headers, f"/jobq/{PROJECT}/list?count=100", 4, seconds)
    nothing = throughput(port, headers, "/no-such-page", 4, seconds)
    rows.append(Row("list-100 throughput, 4 clients", f"{listing:,.0f} req/s", "",
                    f"no-database 404: {nothing:,.0f} req/s", f"{listing / nothing:.2f}"))  # fmt: skip


def measure_stream(
    rows: list[Row], server: Server, client: Http, inproc: Client, raw: psycopg.Connection, lines: int
) -> None:
    path = f"/jobq/{PROJECT}/list?count={lines}"
    before = server.worker_rss_mb("VmRSS")
    server.reset_peak_rss()
    runs = []
    for _ in range(3):
        _, body, first, total = client.get(path)
        runs.append((body.count(b"\n"), first, total))
    got, first, total = sorted(runs, key=lambda run: run[2])[1]
    sql = captured_sql(inproc, path)[-1]
    raw_rows, raw_first, raw_total = sorted((raw_stream(raw, sql) for _ in range(3)), key=lambda r: r[2])[1]
    rate, raw_rate = got / total, raw_rows / raw_total
    rows.append(Row(f"stream {got:,} lines: rows/s", f"{rate:,.0f}/s", "",
                    f"{raw_rate:,.0f}/s", f"{rate / raw_rate:.2f}"))  # fmt: skip
    rows.append(Row("stream: first byte", ms(first), "", ms(raw_first), f"{first / raw_first:.1f}×"))
    # During the three streams only; `before`: the largest worker when they began.
    peak = f"{server.worker_rss_mb()} MB (before: {before} MB)"
    rows.append(Row("stream: largest worker peak RSS", peak, "", "", ""))


# What raw psycopg writes of an imported line: the jobs table's own columns.
RAW_IMPORT_COLUMNS = (
    "key", "project_id", "spider_id", "number", "state", "ts",
    "pending_time", "running_time", "finished_time", "deleted_time",
    "close_reason", "priority", "units", "tags", "items", "pages", "errors",
    "spider_args", "version", "scheduled_by", "started_by", "completed_by",
    "scrapystats", "unique_key", "meta",
)  # fmt: skip


def raw_import(raw: psycopg.Connection, path: Path, project: int) -> float:
    """Seconds for raw psycopg and orjson to load the same lines into an
    empty project: each line parsed and its columns picked as they come,
    then one COPY into the jobs table and a commit. No checks, no upsert,
    no counters, no spider health: what PostgreSQL's part of an import
    alone costs, with the least Python that can feed it."""
    # The project and its spiders, as import_jobs would create them first.
    Project.objects.create(pk=project, name="import")
    spiders = Spider.objects.filter(project_id=PROJECT).values_list("number", "name")
    created = Spider.objects.bulk_create(
        Spider(project_id=project, number=n, name=name) for n, name in spiders
    )
    spider_ids = {spider.number: spider.pk for spider in created}
    names = ", ".join(RAW_IMPORT_COLUMNS)
    started = time.perf_counter()
    with (
        raw.transaction(),
        raw.cursor() as cursor,
        path.open("rb") as lines,
        cursor.copy(f"COPY jobs_job ({names}) FROM STDIN") as copy,
    ):
        for line in lines:
            job = orjson.loads(line)
            _, spider, number = job["key"].split("/")
            stats = job.get("scrapystats")
            args = job.get("spider_args")
            copy.write_row((
                job["key"], project, spider_ids[int(spider)], int(number), job["state"], job["ts"],
                job.get("pending_time"), job.get("running_time"), job.get("finished_time"),
                job.get("deleted_time"), job.get("close_reason"), job.get("priority", 2),
                job.get("units", 1), job.get("tags", []),
                *(stats.get(stat) if stats else None for stat in STATS_FOR_SUMMARY.values()),
                None if args is None else orjson.dumps(args).decode(),
                job.get("version"), job.get("scheduled_by"), job.get("started_by"), job.get("completed_by"),
                None if stats is None else orjson.dumps(stats).decode(),
                job.get("unique"), "{}",
            ))  # fmt: skip
    return time.perf_counter() - started


def measure_import(rows: list[Row], raw: psycopg.Connection, count: int) -> None:
    """import_jobs of `count` jobs copied from the bench project into
    another, beside raw psycopg loading the same lines (raw_import)."""
    bench_data.clear(IMPORT_PROJECT)
    since = Job.objects.for_project(PROJECT).newest_first().values_list("ts", flat=True)[count - 1]
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp) / "exported.jsonl"
        call_command("export_jobs", project=PROJECT, startts=str(since), output=str(exported), verbosity=0)
        moved = Path(tmp) / "moved.jsonl"
        with exported.open("rb") as lines, moved.open("wb") as out:
            for line in lines:
                job = orjson.loads(line)
                job["key"] = job["key"].replace(f"{PROJECT}/", f"{IMPORT_PROJECT}/", 1)
                job["project"] = IMPORT_PROJECT
                out.write(orjson.dumps(job) + b"\n")
        raw_seconds = raw_import(raw, moved, IMPORT_PROJECT)
        bench_data.clear(IMPORT_PROJECT)
        empty = Path(tmp) / "empty.jsonl"
        empty.touch()
        # The command's own start (Django, its checks, a connection), timed
        # on an empty file: a second of the 20,000 jobs' few.
        start_seconds = import_command_seconds(empty)
        elapsed = import_command_seconds(moved)
    bench_data.clear(IMPORT_PROJECT)
    rate, raw_rate = count / elapsed, count / raw_seconds
    rows.append(Row(f"import_jobs, {count:,} jobs", f"{rate:,.0f} jobs/s", "",
                    f"{raw_rate:,.0f} jobs/s", f"{rate / raw_rate:.2f}"))  # fmt: skip
    loading = count / max(elapsed - start_seconds, 1e-3)
    rows.append(Row(f"import_jobs, less its start ({start_seconds:.1f} s)", f"{loading:,.0f} jobs/s", "",
                    f"{raw_rate:,.0f} jobs/s", f"{loading / raw_rate:.2f}"))  # fmt: skip


def import_command_seconds(path: Path) -> float:
    """Wall-clock seconds of `manage.py import_jobs path`, start included."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "import_jobs", "-v0", str(path)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url()},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


_AUTH: dict[int, str] = {}


def _auth_header(project: int) -> str:
    return _AUTH[project]


# From the click on a state chip to the frame after htmx settled the new listing.
CHIP_CLICK = """(state) => new Promise((resolve) => {
    const chip = document.querySelector(`#filters input[name=state][value=${state}]`);
    document.body.addEventListener("htmx:afterSettle", () => {
        requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - started)));
    }, {once: true});
    const started = performance.now();
    chip.click();
})"""


def browser_chip(rows: list[Row], port: int, cookie: str, repeat: int) -> None:
    """Toggle the `running` state chip in Chromium, `repeat` times."""
    name = "browser: state chip click → rows painted"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        rows.append(Row(name, "not measured: no Playwright", "", "", ""))
        return
    if chromium is None:
        rows.append(Row(name, "not measured: no chromium (apt-get install chromium)", "", "", ""))
        return
    cookie_name, cookie_value = cookie.split("=", 1)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context()
        context.add_cookies([{"name": cookie_name, "value": cookie_value, "url": f"http://127.0.0.1:{port}"}])
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/p/{PROJECT}/", wait_until="networkidle")
        page.evaluate(CHIP_CLICK, "running")  # warm-up, there and back
        page.evaluate(CHIP_CLICK, "running")
        times = [page.evaluate(CHIP_CLICK, "running") / 1000 for _ in range(repeat)]
        browser.close()
    rows.append(Row(name, ms(statistics.median(times)), ms(percentile(times, 0.95)), "", ""))


def run(args: argparse.Namespace) -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark runs on PostgreSQL: set BENCH_DATABASE_URL to a postgres:// URL.")
    call_command("migrate", verbosity=0)
    have = bench_data.jobs_in(PROJECT)
    if have != args.jobs:
        log(f"Generating project {PROJECT} with {args.jobs:,} jobs (it has {have:,})…")
        bench_data.generate(PROJECT, args.jobs)
    else:
        log(f"Reusing project {PROJECT} ({have:,} jobs).")
        # A project generated before the bench kept spider health.
        bench_data.fill_health(PROJECT)

    key, raw_key = ApiKey.generate(projects=[PROJECT], name="bench", read_only=True)
    _AUTH[PROJECT] = "Basic " + base64.b64encode(f"{raw_key}:".encode()).decode()
    user = get_user_model().objects.create_superuser(f"bench-{secrets.token_hex(4)}", "", None)
    rows: list[Row] = []
    # The CPU check at the start and after each part: which parts ran while the machine was slow.
    cpu_checks = [f"{ms(cpu_check())} at the start"]
    started = time.monotonic()
    try:
        with Server(args.port) as server, psycopg.connect(libpq_dsn(), autocommit=True) as raw:
            api = Http(args.port, {"Authorization": _AUTH[PROJECT], "Host": "127.0.0.1"})
            inproc_api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=_AUTH[PROJECT])
            wanted: Callable[[str], bool] = lambda part: not args.only or part in args.only  # noqa: E731
            if wanted("list"):
                measure_requests(rows, api_cases(args.jobs), api, inproc_api, raw, args.repeat)
                measure_throughput(rows, args.port, api.headers, args.seconds)
                cpu_checks.append(f"{ms(cpu_check())} after list")
            if wanted("stream"):
                measure_stream(rows, server, api, inproc_api, raw, min(args.stream, args.jobs))
                cpu_checks.append(f"{ms(cpu_check())} after stream")
            if wanted("pages") or wanted("browser"):
                inproc_pages = Client(HTTP_HOST="127.0.0.1")
                inproc_pages.force_login(user)
                cookie = f"{settings.SESSION_COOKIE_NAME}={inproc_pages.cookies[settings.SESSION_COOKIE_NAME].value}"
                pages = Http(args.port, {"Cookie": cookie, "Host": "127.0.0.1"})
                if wanted("pages"):
                    measure_requests(rows, page_cases(args.jobs), pages, inproc_pages, raw, args.repeat)
                    cpu_checks.append(f"{ms(cpu_check())} after pages")
                if wanted("browser"):
                    browser_chip(rows, args.port, cookie, args.repeat)
                    cpu_checks.append(f"{ms(cpu_check())} after browser")
            if wanted("import"):
                measure_import(rows, raw, min(args.import_jobs, args.jobs))
                cpu_checks.append(f"{ms(cpu_check())} after import")
    finally:
        key.delete()
        user.delete()
    load = os.getloadavg()[0]
    print(
        f"jobq bench: {args.jobs:,} jobs in project {PROJECT}, PostgreSQL "
        f"{connection.cursor().connection.info.server_version // 10000}, gunicorn 2 workers, "
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{args.repeat} requests per measure, load {load:.1f}, {time.monotonic() - started:.0f} s; "
        f"CPU check (lower is faster): {', '.join(cpu_checks)}"
    )
    print_table(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("BENCH_JOBS", 200_000)))
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per measure")
    parser.add_argument("--stream", type=int, default=1_000_000, help="lines of the streamed list")
    parser.add_argument("--seconds", type=float, default=5, help="length of each throughput run")
    parser.add_argument("--import-jobs", type=int, default=20_000, help="jobs that import_jobs loads")
    parser.add_argument("--port", type=int, default=8431)
    parser.add_argument("--only", action="append", choices=["list", "stream", "pages", "browser", "import"])
    parser.add_argument("--generate-only", action="store_true", help="make the project, measure nothing")
    args = parser.parse_args(argv)
    global PROJECT
    PROJECT = PROJECT_BASE + args.jobs
    if args.generate_only:
        call_command("migrate", verbosity=0)
        if bench_data.jobs_in(PROJECT) != args.jobs:
            bench_data.generate(PROJECT, args.jobs)
        return
    run(args)


if __name__ == "__main__":
    main()

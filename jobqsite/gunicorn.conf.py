"""The production server: gunicorn with threaded workers (docs/operations.md
says why, with the measurements). `make run` starts it; so does production:

    .venv/bin/gunicorn -c jobqsite/gunicorn.conf.py

From the environment: HOST and PORT (127.0.0.1:8000), WEB_CONCURRENCY
processes (2), WEB_THREADS threads each (8), WEB_GRACEFUL_TIMEOUT seconds
(300) that a stop or a reload lets running requests finish. Anything else:
GUNICORN_CMD_ARGS, e.g. "--bind unix:/run/jobq.sock".

Signals: HUP reloads the code with new workers once the old ones have
finished their requests (graceful); TERM stops the same way; INT/QUIT stop now.
"""

import ctypes
import logging
import os
import shutil
import sys
import tempfile

from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker
from gunicorn.workers.gthread import ThreadWorker

host = os.environ.get("HOST", "").strip() or "127.0.0.1"
port = os.environ.get("PORT", "").strip() or "8000"

wsgi_app = "jobqsite.wsgi:application"
bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
proc_name = "jobq"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))


class QuitSafeThreadWorker(ThreadWorker):
    """gunicorn's threaded worker, without a hang of its immediate stop.

    Its SIGQUIT/SIGINT handler shuts the thread pool down from inside the
    signal handler: when the signal lands while the worker is starting a
    pool thread (holding the pool's lock), the worker deadlocks and the
    master waits WEB_GRACEFUL_TIMEOUT before killing it (gunicorn 27.0.1;
    Ctrl-C on `make run` could hang so). A process that quits needs no
    orderly pool shutdown: the base worker's quit is enough."""

    def handle_quit(self, sig, frame):
        Worker.handle_quit(self, sig, frame)


worker_class = QuitSafeThreadWorker
# Each thread serves one request at a time with its own persistent database
# connection: workers × threads connections at most.
threads = int(os.environ.get("WEB_THREADS", "8"))
# A gthread worker tells the master it is alive from its main loop, whatever
# its threads are doing: a request that runs for minutes (a 1M-line stream,
# a large export) is never cut. `timeout` only replaces a worker whose loop hung.
timeout = 60
# HUP and TERM wait this long for running requests (streams included).
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "300"))
# Longer than a load balancer's idle timeout, so it is the balancer that closes.
keepalive = 75
# A page URL with many filters is a valid API query: allow long request lines.
limit_request_line = 8190
# jobq.requests logs one line per request (with the key's prefix, never the
# key); gunicorn's own access log stays off unless asked for, and is redacted then.
accesslog = None
errorlog = "-"
# No control socket: its default path is one per user, shared by every
# gunicorn of that user (two jobq servers on a machine would take each
# other's); signals do what it does.
control_socket_disable = True
loglevel = os.environ.get("LOG_LEVEL", "warning").lower()


class RedactedFormatter(logging.Formatter):
    """Wraps gunicorn's formatter: API keys and credentials never reach its logs
    (a malformed request line is logged whole, query string included)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        from jobs.ops.redaction import redact

        return redact(self.inner.format(record))


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        for handler in [*self.error_log.handlers, *self.access_log.handlers]:
            if handler.formatter is not None and not isinstance(handler.formatter, RedactedFormatter):
                handler.setFormatter(RedactedFormatter(handler.formatter))


logger_class = RedactingLogger

# Request metrics from every worker, added up by /metrics (prometheus-client's
# multiprocess mode). Set before any worker starts; kept across HUP reloads.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="jobq-metrics-")
    # Ours to remove at exit (a reload re-reads this file: the mark survives it).
    os.environ["JOBQ_METRICS_DIR_OWNED"] = "1"


def on_starting(server):
    """Check the settings once, in the master, so that a production start
    without SECRET_KEY or ALLOWED_HOSTS stops with its message, not with a
    traceback per worker."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobqsite.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.SECRET_KEY  # noqa: B018  (imports and checks the settings)
    except ImproperlyConfigured as exc:
        print(f"jobq cannot start: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    # Counters of a previous run are not this run's.
    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(metrics_dir, exist_ok=True)
    for name in os.listdir(metrics_dir):
        if name.endswith(".db"):
            os.remove(os.path.join(metrics_dir, name))


# glibc's malloc gives each thread that allocates its own arena (up to 8 per
# core), and an arena keeps the memory freed into it: every thread that had
# served a large stream kept its ~20 MB, and a worker that had served them on
# several threads grew by as many (81 to 136 MB over three 1M-line streams;
# still 112 MB with two arenas). One arena per worker: a stream's memory is
# reused by the next, whichever thread serves it, and the GIL serialises
# Python's allocations anyway. MALLOC_ARENA_MAX in the environment, if set,
# decides instead.
MALLOC_ARENAS = 1
M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def post_fork(server, worker):
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass  # not glibc (musl has no arenas to limit)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if os.environ.get("JOBQ_METRICS_DIR_OWNED"):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

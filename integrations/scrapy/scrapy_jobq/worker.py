"""jobq-worker: runs the jobs of a jobq project's queue with Scrapy.

    JOBQ_URL=https://jobq.example.com JOBQ_APIKEY=… \\
        jobq-worker --project 53 --scrapy-project ~/crawlers --slots 4

Each free slot takes the oldest pending job with `startjob` (atomic in jobq,
so workers on any number of machines can share one queue and each job runs
once) and runs `scrapy crawl <spider> -a NAME=VALUE …` for it in the Scrapy
project's directory, through `python -m scrapy_jobq.crawl`, which switches
the jobq extension on. The crawl gets Scrapy Cloud's environment (SHUB_JOBKEY,
SHUB_JOB_DATA, SHUB_STORAGE and SHUB_JOBQ pointing at jobq, the key in
SH_APIKEY), so code written for Scrapy Cloud, such as `ScrapinghubClient()`
without arguments or Spidermon's job monitors and actions, works against jobq.

The crawl reports on its job itself. The worker only watches: a job whose
cancellation is asked for in jobq (its `cancelled_by`) has its crawl stopped
with SIGTERM, Scrapy's graceful stop, then SIGKILL after the grace period; a
crawl that ends without finishing its job (killed, crashed, or stopped before
its spider opened) has its job finished by the worker, with close reason
`failed` (`cancelled` when it was being cancelled) and the exit status in
`exit_code` (negative: killed by that signal) and `exit_signal`.

SIGTERM or SIGINT stops the worker gracefully: it takes no more jobs, stops
its crawls as above (their jobs end with Scrapy's reason, `shutdown`) and
exits once they are done; a second signal kills the crawls at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .client import JobQ, Refused, Unavailable

logger = logging.getLogger("jobq-worker")

TICK = 0.1  # seconds between looks at the crawl processes
CANCELLED, FAILED, SHUTDOWN = "cancelled", "failed", "shutdown"
# The worker's own Scrapy Cloud variables must not leak into a crawl's.
SCRAPY_CLOUD_PREFIXES = ("SHUB_", "SH_")


class WorkerError(Exception):
    """A problem that stops the worker before it starts (bad key, project, folder)."""


@dataclass
class Crawl:
    key: str
    process: subprocess.Popen[bytes]
    log: IO[bytes] | None
    # Why the worker stopped it (None: it was not stopped): CANCELLED or SHUTDOWN.
    stopped_for: str | None = None
    term_sent_at: float | None = None
    killed: bool = False

    @property
    def returncode(self) -> int | None:
        return self.process.returncode


def exit_status(returncode: int) -> dict[str, Any]:
    """The metadata that records how a crawl process ended."""
    status: dict[str, Any] = {"exit_code": returncode}
    if returncode < 0:
        try:
            status["exit_signal"] = signal.Signals(-returncode).name
        except ValueError:
            status["exit_signal"] = f"signal {-returncode}"
    return status


def spider_argument(name: str, value: Any) -> str:
    """`NAME=VALUE` for `-a`: strings as they are, other JSON values as JSON."""
    return f"{name}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"


class Worker:
    def __init__(
        self,
        jobq: JobQ,
        apikey: str,
        scrapy_project: Path,
        *,
        slots: int = 1,
        poll_interval: float = 5.0,
        grace_period: float = 30.0,
        log_dir: Path | None = None,
        exit_when_empty: bool = False,
    ):
        self.jobq = jobq
        self.apikey = apikey
        self.scrapy_project = scrapy_project
        self.slots = slots
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.log_dir = log_dir
        self.exit_when_empty = exit_when_empty
        self.host = socket.gethostname()
        self.name = f"{self.host}:{os.getpid()}"
        self.running: dict[str, Crawl] = {}
        # Crawls that have ended, whose jobs the worker has yet to check in jobq.
        self.ended: list[Crawl] = []
        # Jobs taken whose crawl could not start: {key: why}, to finish as failed.
        self.unstarted: dict[str, str] = {}
        self.queue_empty = False
        self.stopping_since: float | None = None
        self.force = False
        self._next_poll = 0.0
        self._jobq_down = False

    # --- the loop ----------------------------------------------------------------

    def run(self) -> int:
        self._check_setup()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        logger.info(
            "taking the jobs of project %s at %s, %d at a time, into %s",
            self.jobq.project,
            self.jobq.url,
            self.slots,
            self.scrapy_project,
        )
        try:
            while not self._done():
                self._step()
                time.sleep(TICK)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        logger.info("stopped")
        return 0

    def _done(self) -> bool:
        if self.running or self.ended or self.unstarted:
            return False
        return self.stopping_since is not None or (self.exit_when_empty and self.queue_empty)

    def _step(self) -> None:
        now = time.monotonic()
        if self.stopping_since is not None:
            self._stop_all(now)
        self._reap()
        self._enforce_grace(now)
        if now >= self._next_poll:
            self._next_poll = now + self.poll_interval
            self._poll(now)

    def _poll(self, now: float) -> None:
        """Everything that asks jobq, once per poll interval (sooner after a crawl ends)."""
        try:
            self._settle_ended()
            self._check_cancellations()
            if self.stopping_since is None:
                self._take_jobs()
        except Unavailable as exc:
            if not self._jobq_down:
                logger.warning("jobq is unreachable (%s); trying again every %g s", exc, self.poll_interval)
            self._jobq_down = True
            if self.stopping_since is not None and now - self.stopping_since > self.grace_period:
                self._abandon_ended()
            return
        except Refused as exc:
            # The key was revoked or the project deleted meanwhile: nothing more can be done.
            if self.stopping_since is None:
                logger.error("jobq refused the worker (%s); stopping", exc)
                self.stopping_since = now
            self._abandon_ended()
            return
        if self._jobq_down:
            logger.info("jobq is reachable again")
            self._jobq_down = False

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stopping_since is not None:
            self.force = True
        else:
            self.stopping_since = time.monotonic()

    # --- starting crawls -----------------------------------------------------------

    def _check_setup(self) -> None:
        if not self.scrapy_project.is_dir():
            raise WorkerError(f"--scrapy-project {self.scrapy_project} is not a folder.")
        try:
            self.jobq.count()
        except Refused as exc:
            if exc.status == 401:
                raise WorkerError(f"jobq at {self.jobq.url} refused the API key.") from None
            if exc.status == 404:
                raise WorkerError(
                    f"jobq at {self.jobq.url} has no project {self.jobq.project}, or the key may not see it."
                ) from None
            raise WorkerError(f"jobq at {self.jobq.url} refused the worker: {exc}") from None
        except Unavailable as exc:
            logger.warning("jobq is unreachable for now (%s); the worker will keep trying", exc)

    def _take_jobs(self) -> None:
        while len(self.running) < self.slots:
            job = self.jobq.startjob({"started_by": self.host, "worker": self.name})
            self.queue_empty = job is None
            if job is None:
                return
            self._spawn(job)

    def _spawn(self, job: dict[str, Any]) -> None:
        key, spider = str(job["key"]), str(job.get("spider", ""))
        if not spider or spider.startswith("-"):
            self._fail_unstarted(key, f"{spider!r} is not a spider name")
            return
        command = [sys.executable, "-m", "scrapy_jobq.crawl", spider]
        arguments = job.get("spider_args")
        for name, value in (arguments if isinstance(arguments, dict) else {}).items():
            command += ["-a", spider_argument(name, value)]
        log = None
        try:
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                log = open(self.log_dir / f"{key.replace('/', '-')}.log", "ab")  # noqa: SIM115 (closed when the crawl ends)
            process = subprocess.Popen(
                command,
                cwd=self.scrapy_project,
                env=self._environment(job),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                # Its own session: a Ctrl-C meant for the worker reaches the
                # crawls only through the worker, which stops them in order.
                start_new_session=True,
            )
        except OSError as exc:
            if log is not None:
                log.close()
            self._fail_unstarted(key, f"the crawl could not start: {exc}")
            return
        self.running[key] = Crawl(key, process, log)
        logger.info("job %s: crawling %s (pid %d)", key, spider, process.pid)

    def _environment(self, job: dict[str, Any]) -> dict[str, str]:
        env = {
            name: value for name, value in os.environ.items() if not name.startswith(SCRAPY_CLOUD_PREFIXES)
        }
        data = {name: value for name, value in job.items() if name != "auth"}
        root = self.jobq.url + "/"
        env.update(
            SHUB_JOBKEY=str(job["key"]),
            SHUB_JOB_DATA=json.dumps(data, ensure_ascii=False),
            # scrapinghub's client takes its endpoint from these, its key from SH_APIKEY.
            SHUB_STORAGE=root,
            SHUB_JOBQ=root,
            SH_APIKEY=self.apikey,
            # The jobq extension's own settings, over any in the project's settings.py.
            JOBQ_URL=self.jobq.url,
            JOBQ_APIKEY=self.apikey,
            JOBQ_PROJECT=str(self.jobq.project),
        )
        return env

    def _fail_unstarted(self, key: str, reason: str) -> None:
        logger.error("job %s: %s", key, reason)
        self.unstarted[key] = reason

    # --- watching crawls ------------------------------------------------------------

    def _reap(self) -> None:
        for key, crawl in list(self.running.items()):
            returncode = crawl.process.poll()
            if returncode is None:
                continue
            del self.running[key]
            if crawl.log is not None:
                crawl.log.close()
            logger.info("job %s: the crawl exited with status %d", key, returncode)
            self.ended.append(crawl)
            self._next_poll = 0.0  # settle it and fill the slot now

    def _check_cancellations(self) -> None:
        watched = [key for key, crawl in self.running.items() if crawl.stopped_for is None]
        for key, line in self.jobq.jobsummary(watched, ("cancelled_by",)).items():
            crawl = self.running.get(key)
            if crawl is not None and crawl.stopped_for is None and line.get("cancelled_by"):
                logger.info("job %s: cancelled by %s; stopping the crawl", key, line["cancelled_by"])
                self._stop(crawl, CANCELLED)

    def _stop(self, crawl: Crawl, why: str) -> None:
        crawl.stopped_for = why
        crawl.term_sent_at = time.monotonic()
        if crawl.process.poll() is None:
            crawl.process.send_signal(signal.SIGTERM)

    def _stop_all(self, now: float) -> None:
        for crawl in self.running.values():
            if crawl.stopped_for is None:
                self._stop(crawl, SHUTDOWN)
            if self.force and not crawl.killed:
                self._kill(crawl)

    def _enforce_grace(self, now: float) -> None:
        for crawl in self.running.values():
            if (
                crawl.term_sent_at is not None
                and not crawl.killed
                and now - crawl.term_sent_at > self.grace_period
            ):
                logger.warning(
                    "job %s: still running %g s after SIGTERM; killing it", crawl.key, self.grace_period
                )
                self._kill(crawl)

    def _kill(self, crawl: Crawl) -> None:
        crawl.killed = True
        if crawl.process.poll() is None:
            crawl.process.kill()

    # --- settling ended crawls -----------------------------------------------------

    def _settle_ended(self) -> None:
        """Finish the jobs whose crawls ended without finishing them."""
        for key, reason in list(self.unstarted.items()):
            change = {"key": key, "state": "finished", "close_reason": FAILED, "completed_by": self.host}
            self.jobq.update({**change, "worker_error": reason})
            del self.unstarted[key]
        if not self.ended:
            return
        lines = self.jobq.jobsummary([crawl.key for crawl in self.ended], ("close_reason",))
        for crawl in list(self.ended):
            line = lines.get(crawl.key)
            try:
                if line is not None:
                    self._settle(crawl, line)
            except Refused as exc:
                logger.error("job %s: jobq refused to settle it: %s", crawl.key, exc)
            self.ended.remove(crawl)

    def _settle(self, crawl: Crawl, line: dict[str, Any]) -> None:
        assert crawl.returncode is not None
        if line.get("state") == "running":
            reason = crawl.stopped_for or FAILED
            change = {
                "key": crawl.key,
                "state": "finished",
                "close_reason": reason,
                "completed_by": self.host,
            }
            change.update(exit_status(crawl.returncode))
            self.jobq.update(change)
            log = logger.warning if reason == FAILED else logger.info
            log(
                "job %s: the crawl ended (status %d) without finishing its job: now %s",
                crawl.key,
                crawl.returncode,
                reason,
            )
        elif (
            crawl.stopped_for == CANCELLED
            and line.get("state") == "finished"
            and line.get("close_reason") != CANCELLED
        ):
            # The crawl finished its job but could not tell it was cancelled.
            self.jobq.update({"key": crawl.key, "close_reason": CANCELLED})

    def _abandon_ended(self) -> None:
        for key in [*(crawl.key for crawl in self.ended), *self.unstarted]:
            logger.warning("job %s: could not settle it in jobq; leaving the job as jobq last saw it", key)
        self.ended.clear()
        self.unstarted.clear()


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="jobq-worker",
        description="Run the jobs of a jobq project's queue with Scrapy.",
        epilog="JOBQ_URL and JOBQ_APIKEY in the environment give jobq's address and an API key "
        "with write access (or use --url and --apikey).",
    )
    parser.add_argument("--project", type=int, required=True, help="the jobq project whose queue to run")
    parser.add_argument(
        "--scrapy-project",
        type=Path,
        required=True,
        metavar="DIR",
        help="the Scrapy project (its scrapy.cfg folder)",
    )
    parser.add_argument("--slots", type=int, default=1, help="crawls at once (default 1)")
    parser.add_argument(
        "--url", default=os.environ.get("JOBQ_URL"), help="jobq's address (default: $JOBQ_URL)"
    )
    parser.add_argument(
        "--apikey",
        default=os.environ.get("JOBQ_APIKEY"),
        help="the API key (default: $JOBQ_APIKEY; the environment keeps it out of `ps`)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how often to ask jobq (default 5)",
    )
    parser.add_argument(
        "--grace-period",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="from SIGTERM to SIGKILL when stopping a crawl (default 30)",
    )
    parser.add_argument(
        "--log-dir", type=Path, metavar="DIR", help="write each crawl's output to DIR/<P-S-J>.log"
    )
    parser.add_argument(
        "--exit-when-empty",
        action="store_true",
        help="exit once the queue is empty and every crawl has ended",
    )
    options = parser.parse_args(argv)
    if not options.url:
        parser.error("give jobq's address with --url or JOBQ_URL")
    if not options.url.startswith(("http://", "https://")):
        parser.error(f"the jobq address must start with http:// or https://, not {options.url!r}")
    if not options.apikey:
        parser.error("give an API key with JOBQ_APIKEY (or --apikey)")
    if options.project <= 0:
        parser.error("--project must be a positive integer")
    if options.slots < 1:
        parser.error("--slots must be at least 1")
    if options.poll_interval <= 0 or options.grace_period < 0:
        parser.error("--poll-interval must be positive and --grace-period not negative")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s jobq-worker %(levelname)s: %(message)s")
    worker = Worker(
        JobQ(options.url, options.apikey, options.project),
        options.apikey,
        options.scrapy_project.resolve(),
        slots=options.slots,
        poll_interval=options.poll_interval,
        grace_period=options.grace_period,
        log_dir=options.log_dir.resolve() if options.log_dir else None,
        exit_when_empty=options.exit_when_empty,
    )
    try:
        return worker.run()
    except WorkerError as exc:
        logger.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The reporter: one thread per crawl that sends its job's changes to jobq.

Scrapy's thread only hands over what to send (`report_stats`, `finish`), which
never blocks it; the HTTP happens here, in order: the push (or, for a job
started from the queue, the metadata to add), then live stats, then the
finish. While jobq is unreachable the reporter retries with a growing delay,
and live stats that pile up meanwhile collapse into the latest. Once the crawl
closes, the reporter has `close_timeout` seconds to get the finish through;
then it gives up with one warning. It never raises into Scrapy.

After `begin_closing` the reporter logs nothing unless it gives up, so the
final stats it sends (which count log lines) are the stats Scrapy prints.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .client import JobQ, JobQError, Refused, Unavailable

logger = logging.getLogger(__name__)

FIRST_RETRY_DELAY = 0.5
SHUTDOWN = "shutdown"
CANCELLED = "cancelled"


class Reporter:
    """Reports on job `key` (a job started from jobq's queue), or pushes
    `push` first and reports on the job it creates."""

    def __init__(
        self,
        jobq: JobQ,
        *,
        key: str | None = None,
        push: dict[str, Any] | None = None,
        opening: dict[str, Any] | None = None,
        retry_max_delay: float = 30.0,
    ):
        if (key is None) == (push is None):
            raise ValueError("give either the key of an existing job or a job to push")
        self.jobq = jobq
        self.key = key
        self.retry_max_delay = retry_max_delay
        self.gave_up = False
        self._push = push
        self._opening = opening or None
        self._stats: dict[str, Any] | None = None
        self._finish: dict[str, Any] | None = None
        self._check_cancelled = False
        self._finished = False
        self._closing = False
        self._deadline: float | None = None
        self._hurry = False
        self._unreachable_since: float | None = None
        self._cond = threading.Condition()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobq-reporter", daemon=True)

    # --- called from Scrapy's thread -------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def report_stats(self, stats: dict[str, Any]) -> None:
        """Send these live stats when the reporter gets to it (newer stats
        replace ones not sent yet)."""
        with self._cond:
            if not self._closing:
                self._stats = stats
                self._cond.notify()

    def begin_closing(self) -> None:
        """From now on, log nothing unless giving up (see the module docstring)."""
        with self._cond:
            self._closing = True

    def finish(self, change: dict[str, Any], *, timeout: float, check_cancelled: bool = False) -> None:
        """Finish the job with `change` within `timeout` seconds. With
        `check_cancelled`, a close reason "shutdown" becomes "cancelled" when
        the job's cancellation was asked for in jobq (the worker stops a
        cancelled crawl with SIGTERM, which Scrapy reports as a shutdown)."""
        with self._cond:
            self._closing = True
            self._finish = dict(change)
            self._check_cancelled = check_cancelled
            self._stats = None  # the finish carries the final stats
            self._deadline = time.monotonic() + timeout
            self._hurry = True  # a fresh attempt now, whatever the current delay
            self._cond.notify()

    def wait(self, timeout: float) -> bool:
        """Block until the reporter is done (finished or gave up); False on timeout."""
        return self._done.wait(timeout)

    # --- the thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug here must neither reach Scrapy nor pass silently
            self._give_up(f"an unexpected error: {exc!r}", exc_info=True)
        finally:
            self._done.set()

    def _loop(self) -> None:
        delay = 0.0
        while True:
            task = self._next_task()
            if task is None:
                return
            try:
                task()
            except Unavailable as exc:
                self._note_outage(exc)
                delay = min(max(delay * 2, FIRST_RETRY_DELAY), self.retry_max_delay)
                if not self._pause(delay):
                    self._give_up(f"jobq was still unreachable when the close timeout ran out ({exc})")
                    return
                continue
            except Refused as exc:
                self._give_up(f"jobq refused it ({exc})")
                return
            self._note_recovery()
            delay = 0.0

    def _next_task(self) -> Callable[[], None] | None:
        with self._cond:
            while True:
                if self.key is None:
                    return self._send_push
                if self._opening is not None:
                    return self._send_opening
                if self._finish is not None:
                    return self._send_finish
                if self._stats is not None:
                    return self._send_stats
                if self._finished:
                    return None
                self._cond.wait()

    def _pause(self, delay: float) -> bool:
        """Wait `delay` seconds before the next attempt, less if the crawl
        closes meanwhile; False once the close deadline has passed."""
        with self._cond:
            until = time.monotonic() + delay
            if self._deadline is not None:
                until = min(until, self._deadline)
            self._cond.wait_for(lambda: self._hurry, max(0.0, until - time.monotonic()))
            self._hurry = False
            return self._deadline is None or time.monotonic() < self._deadline

    def _timeout(self) -> float:
        """Each request's timeout: the client's, but never past the close deadline."""
        if self._deadline is None:
            return self.jobq.timeout
        return max(0.05, min(self.jobq.timeout, self._deadline - time.monotonic()))

    # --- the sends ------------------------------------------------------------

    def _send_push(self) -> None:
        assert self._push is not None
        answer = self.jobq.push(self._push, timeout=self._timeout())
        key = answer.get("key") or self._find_pushed_job(answer)
        with self._cond:
            self.key = key
        self._log(logging.INFO, "jobq: this crawl is job %s at %s", key, self.jobq.url)

    def _find_pushed_job(self, answer: dict[str, Any]) -> str:
        """The key of a job that an earlier attempt of this push created.

        A push whose answer was lost (a timeout after jobq committed) is sent
        again; its `unique` value, random per crawl, makes jobq refuse the
        second job, and the first one is found by that value."""
        assert self._push is not None
        unique = self._push.get("unique")
        if unique is not None and str(answer.get("error", "")).startswith("Active job exists"):
            lines = self.jobq.list(
                spider=self._push["spider"],
                state="running",
                jobmeta="unique",
                count=1000,
                timeout=self._timeout(),
            )
            for line in lines:
                if line.get("unique") == unique:
                    return str(line["key"])
        raise Refused(200, f"the push was not accepted: {answer.get('error', answer)}")

    def _send_opening(self) -> None:
        assert self.key is not None and self._opening is not None
        self.jobq.set_metadata(self.key, self._opening, timeout=self._timeout())
        with self._cond:
            self._opening = None

    def _send_stats(self) -> None:
        assert self.key is not None
        with self._cond:
            stats = self._stats
        if stats is None:
            return
        self.jobq.set_metadata(self.key, {"scrapystats": stats}, timeout=self._timeout())
        with self._cond:
            if self._stats is stats:
                self._stats = None

    def _send_finish(self) -> None:
        assert self.key is not None and self._finish is not None
        change = self._finish
        if self._check_cancelled and change.get("close_reason") == SHUTDOWN:
            if self.jobq.get_field(self.key, "cancelled_by", timeout=self._timeout()):
                change["close_reason"] = CANCELLED
            self._check_cancelled = False
        if not self.jobq.update({**change, "key": self.key}, timeout=self._timeout()):
            raise Refused(404, f"job {self.key} is not in jobq any more")
        with self._cond:
            self._finish = None
            self._finished = True

    # --- what the reporter says ---------------------------------------------------

    def _log(self, level: int, message: str, *args: Any, **kwargs: Any) -> None:
        # Under the lock, so that nothing is logged once begin_closing() returned.
        with self._cond:
            if not self._closing:
                logger.log(level, message, *args, **kwargs)

    def _note_outage(self, exc: JobQError) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            self._log(logging.INFO, "jobq: %s; retrying in the background, the crawl goes on", exc)

    def _note_recovery(self) -> None:
        if self._unreachable_since is not None:
            seconds = time.monotonic() - self._unreachable_since
            self._unreachable_since = None
            self._log(logging.INFO, "jobq: reachable again after %.0f s", seconds)

    def _give_up(self, reason: str, **kwargs: Any) -> None:
        """The one warning: what was not reported, why, and what jobq now shows."""
        self.gave_up = True
        if self.key is None:
            job, outcome = "this crawl", "jobq has no job for it"
        else:
            job, outcome = f"job {self.key}", "the job stays as jobq last saw it, running"
        logger.warning(
            "jobq: gave up reporting %s to %s: %s. The crawl itself is not affected; %s.",
            job,
            self.jobq.url,
            reason,
            outcome,
            **kwargs,
        )

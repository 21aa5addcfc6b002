"""The Scrapy extension: each crawl becomes a job in jobq, with live stats.

    EXTENSIONS = {"scrapy_jobq.JobqExtension": 1000}
    JOBQ_URL = "https://jobq.example.com"   # or the environment variables
    JOBQ_APIKEY = "…"                        # of the same names
    JOBQ_PROJECT = 53

Started from jobq's queue (SHUB_JOBKEY set, as `jobq-worker` does), the crawl
reports on that job; otherwise it pushes a new job, in state running. Either
way the job gets the live Scrapy stats every JOBQ_STATS_INTERVAL seconds and is
finished with Scrapy's close reason and final stats when the spider closes.
The HTTP runs in the reporter's thread (see reporter.py); the handlers here
only take stats and hand them over, and never raise into Scrapy.

Order 1000 runs the close handler after the other extensions' (Spidermon's
is 500), so the final stats include what they add.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

from scrapy import Spider, signals
from scrapy.utils.asyncio import create_looping_call, run_in_thread

from .client import JobQ
from .config import Config
from .crawlinfo import (
    SCRAPYD_JOB_ARGUMENT,
    git_version,
    host,
    project_directory,
    scrapyd_metadata,
    scrapyd_version,
    spider_arguments,
)
from .reporter import SHUTDOWN, Reporter
from .stats import figures, jsonable

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class JobqExtension:
    def __init__(self, crawler: Crawler, config: Config):
        self.crawler = crawler
        self.config = config
        self.reporter: Reporter | None = None
        self._stats_task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JobqExtension:
        extension = cls(crawler, Config.from_settings(crawler.settings))
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    # --- signals ---------------------------------------------------------------

    def spider_opened(self, spider: Spider) -> None:
        try:
            self.reporter = self._start_reporter(spider)
            if self.config.stats_interval > 0:
                self._stats_task = create_looping_call(self._report_stats)
                self._stats_task.start(self.config.stats_interval, now=False)
        except Exception:
            logger.warning("jobq: could not start reporting; the crawl goes on without jobq", exc_info=True)
            self.reporter = None

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        reporter = self.reporter
        if reporter is None:
            return
        try:
            if self._stats_task is not None and self._stats_task.running:
                self._stats_task.stop()
            reporter.begin_closing()
            stats = self._stats()
            change = {
                "state": "finished",
                "close_reason": reason,
                # When the crawl closed, even if jobq only hears of it later.
                "finished_time": now_ms(),
                "completed_by": host(),
                "scrapystats": stats,
                **figures(stats),
            }
            reporter.finish(
                change,
                timeout=self.config.close_timeout,
                check_cancelled=self.config.job_key is not None and reason == SHUTDOWN,
            )
            # The bounded last attempt: the reporter gives up by itself at the
            # deadline; the margin covers a request that started just before it.
            await run_in_thread(reporter.wait, self.config.close_timeout + 1)
        except Exception:
            logger.warning("jobq: could not report the end of this crawl", exc_info=True)

    # --- the parts -------------------------------------------------------------

    def _start_reporter(self, spider: Spider) -> Reporter:
        config = self.config
        jobq = JobQ(config.url, config.apikey, config.project, timeout=config.timeout)
        if config.job_key is not None:
            # Started from the queue: the job exists and carries what was pushed.
            opening = {}
            if not _job_data().get("version"):
                version = self._version(spider)
                if version:
                    opening["version"] = version
            reporter = Reporter(
                jobq, key=config.job_key, opening=opening, retry_max_delay=config.retry_max_delay
            )
            logger.info("jobq: reporting on job %s at %s", config.job_key, config.url)
        else:
            reporter = Reporter(jobq, push=self._push_line(spider), retry_max_delay=config.retry_max_delay)
            logger.info("jobq: reporting this crawl to project %s at %s", config.project, config.url)
        reporter.start()
        return reporter

    def _push_line(self, spider: Spider) -> dict[str, Any]:
        """The job this crawl is, pushed straight into state running."""
        now = now_ms()
        arguments = spider_arguments(sys.argv, scrapy_command="scrapy.cmdline" in sys.modules)
        log_file = self.crawler.settings.get("LOG_FILE")
        scrapyd = scrapyd_metadata(os.environ, arguments, spider.name, log_file, self.config.scrapyd_url)
        if scrapyd:
            arguments.pop(SCRAPYD_JOB_ARGUMENT, None)
        line: dict[str, Any] = {
            "spider": spider.name,
            "state": "running",
            # When the crawl started, even if jobq only hears of it later.
            "pending_time": now,
            "running_time": now,
            "started_by": host(),
            # Random per crawl: a push sent again after a lost answer finds
            # the job the first attempt created instead of making a second one.
            "unique": uuid.uuid4().hex,
        }
        if arguments:
            line["spider_args"] = arguments
        if self.config.tags:
            line["tags"] = self.config.tags
        version = self._version(spider)
        if version:
            line["version"] = version
        line.update(scrapyd)
        return line

    def _version(self, spider: Spider) -> str | None:
        return self.config.version or git_version(project_directory(spider)) or scrapyd_version()

    def _stats(self) -> dict[str, Any]:
        # dict() copies in one step: the reporter thread's log lines may add
        # log_count keys meanwhile.
        stats: dict[str, Any] = jsonable(dict(self.crawler.stats.get_stats()))
        return stats

    def _report_stats(self) -> None:
        try:
            if self.reporter is not None:
                self.reporter.report_stats(self._stats())
        except Exception:
            logger.warning("jobq: could not take the live stats", exc_info=True)


def _job_data() -> dict[str, Any]:
    """The job as the queue handed it to the worker (SHUB_JOB_DATA), or {}."""
    try:
        data = json.loads(os.environ.get("SHUB_JOB_DATA") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}

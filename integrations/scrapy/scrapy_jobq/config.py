"""The extension's settings, read once when the crawler starts.

Each `JOBQ_*` setting can also come from an environment variable of the same
name. They rank as Scrapy's own `SCRAPY_*` variables do: the environment
overrides settings.py, while a spider's `custom_settings` and `-s NAME=VALUE`
override the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrapy.exceptions import NotConfigured
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

# Defaults, in seconds.
STATS_INTERVAL = 30.0
TIMEOUT = 10.0
RETRY_MAX_DELAY = 30.0
CLOSE_TIMEOUT = 60.0


class JobqSettings:
    """Typed getters over the Scrapy settings, with the environment between
    the project's settings and the spider's or the command line's."""

    def __init__(self, settings: BaseSettings, environ: Mapping[str, str]):
        self.settings = settings
        self.environ = environ

    def source(self, name: str) -> BaseSettings:
        value = self.environ.get(name, "")
        priority = self.settings.getpriority(name)
        if value.strip() and (priority is None or priority <= SETTINGS_PRIORITIES["project"]):
            return BaseSettings({name: value}, priority="project")
        return self.settings

    def get(self, name: str, default: Any = None) -> Any:
        value = self.source(name).get(name, default)
        return value.strip() if isinstance(value, str) else value

    def getbool(self, name: str, default: bool) -> bool:
        return self.source(name).getbool(name, default)

    def getlist(self, name: str) -> list[str]:
        return [item.strip() for item in self.source(name).getlist(name) if item and item.strip()]

    def getfloat(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        try:
            value = self.source(name).getfloat(name, default)
        except ValueError:
            raise NotConfigured(f"{name} must be a number of seconds.") from None
        if value < minimum:
            raise NotConfigured(f"{name} must be at least {minimum:g} seconds.")
        return value


@dataclass(frozen=True)
class Config:
    url: str
    apikey: str
    project: int
    # The job to report on when the crawl was started from jobq's queue
    # (SHUB_JOBKEY); None: the extension pushes a new job.
    job_key: str | None
    tags: list[str]
    version: str | None
    stats_interval: float
    timeout: float
    retry_max_delay: float
    close_timeout: float
    scrapyd_url: str | None

    @classmethod
    def from_settings(cls, settings: BaseSettings, environ: Mapping[str, str] = os.environ) -> Config:
        """The configuration, or NotConfigured saying what is missing (Scrapy
        logs it as a warning and runs the crawl without the extension)."""
        jobq = JobqSettings(settings, environ)
        if not jobq.getbool("JOBQ_ENABLED", True):
            raise NotConfigured  # switched off on purpose: nothing to say
        url = jobq.get("JOBQ_URL") or ""
        if not url:
            raise NotConfigured("JOBQ_URL is not set (the address of jobq, e.g. https://jobq.example.com).")
        if not url.startswith(("http://", "https://")):
            raise NotConfigured(f"JOBQ_URL must start with http:// or https://, not {url!r}.")
        apikey = jobq.get("JOBQ_APIKEY") or ""
        if not apikey:
            raise NotConfigured("JOBQ_APIKEY is not set (a jobq API key with write access to the project).")
        job_key = environ.get("SHUB_JOBKEY", "").strip() or None
        if job_key is not None:
            project = _project_of(job_key)
        else:
            project = _positive_int("JOBQ_PROJECT", jobq.get("JOBQ_PROJECT"))
        return cls(
            url=url,
            apikey=apikey,
            project=project,
            job_key=job_key,
            tags=jobq.getlist("JOBQ_TAGS"),
            version=jobq.get("JOBQ_VERSION") or None,
            stats_interval=jobq.getfloat("JOBQ_STATS_INTERVAL", STATS_INTERVAL),
            timeout=jobq.getfloat("JOBQ_TIMEOUT", TIMEOUT, minimum=0.1),
            retry_max_delay=jobq.getfloat("JOBQ_RETRY_MAX_DELAY", RETRY_MAX_DELAY, minimum=0.1),
            close_timeout=jobq.getfloat("JOBQ_CLOSE_TIMEOUT", CLOSE_TIMEOUT, minimum=0.1),
            scrapyd_url=(jobq.get("JOBQ_SCRAPYD_URL") or "").rstrip("/") or None,
        )


def _positive_int(name: str, value: Any) -> int:
    if value in (None, ""):
        raise NotConfigured(f"{name} is not set (the numeric id of the jobq project).")
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise NotConfigured(f"{name} must be a positive integer, not {value!r}.")
    return number


def _project_of(job_key: str) -> int:
    parts = job_key.split("/")
    if len(parts) != 3 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise NotConfigured(f"SHUB_JOBKEY must be a job key like 53/7/81, not {job_key!r}.")
    return int(parts[0])

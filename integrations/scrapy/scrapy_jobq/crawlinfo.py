"""What the extension tells jobq about a crawl it pushes itself: the spider's
arguments, the code's version, and where it runs (this host, Scrapyd)."""

from __future__ import annotations

import argparse
import inspect
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from scrapy import Spider
from scrapy.utils.conf import closest_scrapy_cfg

# Scrapyd passes its job id to the spider as this argument.
SCRAPYD_JOB_ARGUMENT = "_job"
SCRAPYD_PORT = 6800


def host() -> str:
    return socket.gethostname()


def spider_arguments(argv: Sequence[str], *, scrapy_command: bool) -> dict[str, str]:
    """The `-a NAME=VALUE` arguments of the `scrapy crawl` (or `runspider`)
    command line that started this process, as Scrapyd's runner and
    `scrapy_jobq.crawl` also take them; {} when Scrapy's command line did not
    start it (`scrapy_command` false: a script using CrawlerProcess).

    Scrapy keeps no record of the arguments once it has made them spider
    attributes, so they are read where Scrapy read them, by the same rule
    (each `-a` value split at its first "="). Scrapy removes the command's
    name from sys.argv as it starts it; it may or may not still be there.
    """
    if not scrapy_command:
        return {}
    rest = list(argv[1:])
    command = next((index for index, arg in enumerate(rest) if not arg.startswith("-")), None)
    if command is not None and rest[command] in ("crawl", "runspider"):
        del rest[command]
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-a", dest="spargs", action="append", default=[])
    options, _ = parser.parse_known_args(rest)
    arguments = {}
    for pair in options.spargs:
        name, sep, value = pair.partition("=")
        if sep and name:
            arguments[name] = value
    return arguments


def project_directory(spider: Spider) -> Path | None:
    """The Scrapy project's directory (that of its scrapy.cfg), else the
    directory of the spider's source file."""
    config = closest_scrapy_cfg()
    if config:
        return Path(config).parent
    try:
        return Path(inspect.getfile(type(spider))).parent
    except (TypeError, OSError):
        return None


def git_version(directory: Path | None) -> str | None:
    """`git describe --always --dirty` of the directory: the nearest tag and
    commit, or the short commit, with "-dirty" for uncommitted changes; None
    outside a git work tree or without git."""
    if directory is None:
        return None
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and version else None


def scrapyd_metadata(
    environ: Mapping[str, str],
    spider_args: Mapping[str, str],
    spider_name: str,
    log_file: str | None,
    scrapyd_url: str | None,
) -> dict[str, str]:
    """Scrapyd's job id, project and log URL when Scrapyd started this crawl; {} otherwise.

    Scrapyd passes its job id as the spider argument `_job` and sets
    SCRAPY_PROJECT; when it keeps logs it gives the crawl its log file
    (LOG_FILE, <logs_dir>/<project>/<spider>/<job>.log) and shows that file at
    /logs/<project>/<spider>/<job>.log. Scrapyd before 1.5 also set
    SCRAPYD_JOB, SCRAPYD_SPIDER and SCRAPYD_LOG_FILE (SCRAPY_JOB … before 1.4).
    """
    job = spider_args.get(SCRAPYD_JOB_ARGUMENT) or environ.get("SCRAPYD_JOB") or environ.get("SCRAPY_JOB")
    if not job:
        return {}
    metadata = {"scrapyd_job": job}
    project = environ.get("SCRAPY_PROJECT")
    if project:
        metadata["scrapyd_project"] = project
    keeps_log = log_file or environ.get("SCRAPYD_LOG_FILE") or environ.get("SCRAPY_LOG_FILE")
    if project and keeps_log:
        spider = environ.get("SCRAPYD_SPIDER") or environ.get("SCRAPY_SPIDER") or spider_name
        base = scrapyd_url or f"http://{host()}:{SCRAPYD_PORT}"
        path = "/".join(quote(part, safe="") for part in (project, spider, f"{job}.log"))
        metadata["scrapyd_log_url"] = f"{base}/logs/{path}"
    return metadata


def scrapyd_version(environ: Mapping[str, str] = os.environ) -> str | None:
    """The version of the project egg Scrapyd runs, when it says (a job
    scheduled with `_version`)."""
    return environ.get("SCRAPYD_EGG_VERSION") or environ.get("SCRAPY_EGG_VERSION") or None

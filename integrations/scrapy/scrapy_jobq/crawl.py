"""`python -m scrapy_jobq.crawl SPIDER [scrapy crawl options]`: `scrapy crawl`
with the jobq extension switched on.

`jobq-worker` runs every job through this, so a crawl reports on its job even
when the project's settings do not list the extension, or when a spider's
`custom_settings` replace the project's EXTENSIONS (Scrapy replaces the whole
dict). The extension goes into EXTENSIONS_BASE, beside Scrapy's own: a
project or spider that lists it in EXTENSIONS, under any import path, keeps
its own order, or its None that switches it off (Scrapy matches EXTENSIONS
keys to EXTENSIONS_BASE ones by the class's full import path).
"""

from __future__ import annotations

import sys

from scrapy.cmdline import execute
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from .extension import JobqExtension

EXTENSION_PATH = f"{JobqExtension.__module__}.{JobqExtension.__qualname__}"
# After the other extensions (Spidermon's is 500): see extension.py.
EXTENSION_ORDER = 1000


def settings_with_extension() -> Settings:
    settings = get_project_settings()
    settings["EXTENSIONS_BASE"].set(EXTENSION_PATH, EXTENSION_ORDER)
    return settings


def main() -> None:
    # The command line Scrapy would have had, for anything that reads sys.argv.
    sys.argv = ["scrapy", "crawl", *sys.argv[1:]]
    execute(list(sys.argv), settings_with_extension())


if __name__ == "__main__":
    main()

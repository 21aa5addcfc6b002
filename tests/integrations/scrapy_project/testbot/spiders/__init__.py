"""Spiders of the integration tests. They crawl the site that the test serves
(tests/integrations/site.py), whose address is in TESTBOT_SITE."""

import json
import os
from pathlib import Path

import scrapy


def site(path):
    return os.environ["TESTBOT_SITE"].rstrip("/") + path


class BookSpider(scrapy.Spider):
    """Scrapes `per` books from each of `pages` pages: pages * per items.
    `hold` names pages the site holds back until the test releases them;
    `pidfile` gets the crawl's process id."""

    name = "books"

    def __init__(self, pages="3", per="5", hold="", pidfile=None, **kwargs):
        super().__init__(**kwargs)
        self.pages, self.per, self.hold = int(pages), int(per), hold
        if pidfile:
            Path(pidfile).write_text(str(os.getpid()))

    async def start(self):
        yield scrapy.Request(site(f"/books?page=1&pages={self.pages}&per={self.per}&hold={self.hold}"))

    def parse(self, response):
        for book in response.css("li.book"):
            item = self.item(book)
            if item is not None:
                yield item
        next_page = response.css("a.next::attr(href)").get()
        if next_page:
            yield response.follow(next_page)

    def item(self, book):
        return {"title": book.css(".title::text").get(), "price": float(book.css(".price::text").get())}


class ErrorSpider(BookSpider):
    """Like books, but logs an error instead of an item for the first `errors` books."""

    name = "errors"

    def __init__(self, errors="2", **kwargs):
        super().__init__(**kwargs)
        self.errors_left = int(errors)

    def item(self, book):
        if self.errors_left:
            self.errors_left -= 1
            self.logger.error("No price for %s", book.css(".title::text").get())
            return None
        return super().item(book)


class RaisingSpider(BookSpider):
    """Like books, but its callback raises on page 2: Scrapy logs the error and
    the crawl goes on with what it has (page 1's items, no page 3)."""

    name = "raises"

    def parse(self, response):
        if "page=2&" in response.url:
            raise ValueError("the layout of page 2 changed")
        yield from super().parse(response)


class EndlessSpider(BookSpider):
    """One book per page, page after page, until stopped."""

    name = "endless"
    custom_settings = {"DOWNLOAD_DELAY": 0.1, "RANDOMIZE_DOWNLOAD_DELAY": False}

    async def start(self):
        yield scrapy.Request(site("/books?page=1&pages=1000000&per=1"))


class HangingSpider(scrapy.Spider):
    """Waits on a page that answers after `seconds`: Scrapy's graceful stop
    waits for it too, so only SIGKILL ends this crawl early."""

    name = "hangs"

    def __init__(self, seconds="60", pidfile=None, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds
        if pidfile:
            Path(pidfile).write_text(str(os.getpid()))

    async def start(self):
        yield scrapy.Request(site(f"/sleep?seconds={self.seconds}"))

    def parse(self, response):
        yield {"waited": self.seconds}


class CloudSpider(scrapy.Spider):
    """Code written for Scrapy Cloud: the client without arguments finds its
    endpoint and key in the environment, and the job in SHUB_JOBKEY."""

    name = "cloud"

    async def start(self):
        from scrapinghub import ScrapinghubClient

        client = ScrapinghubClient()
        job = client.get_job(os.environ["SHUB_JOBKEY"])
        job.metadata.set(
            "seen_from_the_spider",
            {
                "tags": job.metadata.get("tags"),
                "running": client.get_project(job.project_id).jobs.count(state="running"),
                "job_data_spider": json.loads(os.environ["SHUB_JOB_DATA"])["spider"],
            },
        )
        client.close()
        return
        yield


class MonitoredSpider(BookSpider):
    """`items` books on one page, with a Spidermon suite that compares the item
    count to the spider's previous jobs in jobq (see testbot/monitors.py)."""

    name = "monitored"
    custom_settings = {
        "SPIDERMON_ENABLED": True,
        # This replaces settings.py's EXTENSIONS (Scrapy replaces the whole dict):
        # run by jobq-worker, the jobq extension stays on all the same.
        "EXTENSIONS": {"spidermon.contrib.scrapy.extensions.Spidermon": 500},
        "SPIDERMON_SPIDER_CLOSE_MONITORS": ["testbot.monitors.ComparisonSuite"],
        # The 3 newest finished jobs of this spider; at least 80% of their mean.
        "SPIDERMON_JOBS_COMPARISON": 3,
        "SPIDERMON_JOBS_COMPARISON_THRESHOLD": 0.8,
        "SPIDERMON_JOB_TAGS_TO_ADD": ["item-drop"],
        "SPIDERMON_JOB_TAGS_TO_REMOVE": ["unchecked"],
    }

    def __init__(self, items="10", **kwargs):
        super().__init__(pages="1", per=items, **kwargs)


class MonitoredByArgumentsSpider(MonitoredSpider):
    """`monitored`, comparing only with previous jobs run with the arguments
    {"category": "books"}: Spidermon reads them from jobq's list lines."""

    name = "monitored_by_args"
    custom_settings = {
        **MonitoredSpider.custom_settings,
        "SPIDERMON_JOBS_COMPARISON_ARGUMENTS_ENABLED": True,
        "SPIDERMON_JOBS_COMPARISON_ARGUMENTS": {"category": "books"},
    }

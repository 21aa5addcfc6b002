"""A Scrapy project as a jobq user would set it up: the extension in
EXTENSIONS, jobq's address and key from the environment."""

BOT_NAME = "testbot"
SPIDER_MODULES = ["testbot.spiders"]

EXTENSIONS = {"scrapy_jobq.JobqExtension": 1000}

# Only the test's own site, on this machine: no robots.txt, no telnet port.
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
CONCURRENT_REQUESTS = 4
DOWNLOAD_TIMEOUT = 30
ITEM_PIPELINES = {"testbot.pipelines.ItemLog": 100}

# Every job this project pushes is tagged "cron" unless the environment's
# JOBQ_TAGS or a `-s JOBQ_TAGS=…` says otherwise.
JOBQ_TAGS = ["cron"]

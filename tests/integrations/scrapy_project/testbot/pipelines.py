"""Every scraped item, one JSON line each, in the file named by TESTBOT_ITEMS:
the test counts what Scrapy really scraped. (A feed export would do, but it
adds its own stats after the spider closes, after the jobq extension took the
final ones.)"""

import json
import os


class ItemLog:
    def process_item(self, item):
        path = os.environ.get("TESTBOT_ITEMS")
        if path:
            with open(path, "a", encoding="utf-8") as file:
                file.write(json.dumps(dict(item)) + "\n")
        return item

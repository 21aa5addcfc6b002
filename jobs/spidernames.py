"""{spider id: name} of a project, kept per server process.

Every list line, export row and dashboard row names its spider; reading a
project's spiders on every request was one of the four queries of a
`/list?count=100`. Spiders are only ever added (never reused), and seldom
renamed, so the map is kept per process and refreshed:

- when the project's `last_spider_number` moved (a spider was added: the
  project row is read by every request anyway);
- when a row names a spider id the map lacks (a spider added with a number
  below the last one, as an import may do);
- when a spider is saved or deleted in this process (signals);
- after REFRESH_SECONDS in any case, so that a rename made through another
  process shows there too within that time.
"""

import time
from collections.abc import Iterator, Mapping
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Project, Spider

REFRESH_SECONDS = 30.0

# project id -> (its last_spider_number, monotonic time read, {spider id: name})
_cache: dict[int, tuple[int, float, dict[int, str]]] = {}


class SpiderNames(Mapping[int, str]):
    """A project's spider names; an id it lacks re-reads them once."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.names = _names(project)
        self.reread = False

    def __getitem__(self, spider_id: int) -> str:
        try:
            return self.names[spider_id]
        except KeyError:
            if self.reread:
                raise
            self.reread = True
            self.names = _read(self.project)
            return self.names[spider_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def spider_names(project: Project) -> SpiderNames:
    return SpiderNames(project)


def _names(project: Project) -> dict[int, str]:
    cached = _cache.get(project.pk)
    if (
        cached is not None
        and cached[0] == project.last_spider_number
        and time.monotonic() - cached[1] < REFRESH_SECONDS
    ):
        return cached[2]
    return _read(project)


def _read(project: Project) -> dict[int, str]:
    names = Spider.objects.names(project)
    _cache[project.pk] = (project.last_spider_number, time.monotonic(), names)
    return names


@receiver(post_save, sender=Spider, dispatch_uid="spidernames-saved")
@receiver(post_delete, sender=Spider, dispatch_uid="spidernames-deleted")
def _forget(sender: type[Spider], instance: Spider, **kwargs: Any) -> None:
    _cache.pop(instance.project_id, None)


def forget_all() -> None:
    """Empty the cache (tests whose database is rolled back under it)."""
    _cache.clear()

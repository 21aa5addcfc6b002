"""{spider id: name} of a project, kept per server process.

Every list line, export row and dashboard row names its spider, and a
spider filter needs the named spiders' ids; reading a project's spiders on
every request was one of the four queries of a `/list?count=100`. Spiders
are seldom added and more seldom renamed, so the map is kept per process
and read again:

- when the project's `last_spider_number` moved (a spider was added: the
  project row is read by every request anyway);
- when the project's `spider_names_version` moved: saving or deleting a
  spider moves it (signals below), in whichever process did it;
- when a row names a spider id the map lacks, or a filter a name it lacks
  (a spider added with a number below the last one, as an import may do);
- after REFRESH_SECONDS in any case, for a change made behind the ORM's back.
"""

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Project, Spider

REFRESH_SECONDS = 30.0

# project id -> ((last_spider_number, spider_names_version), monotonic time read, {spider id: name})
_cache: dict[int, tuple[tuple[int, int], float, dict[int, str]]] = {}


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

    def ids_of(self, names: Iterable[str]) -> list[int]:
        """The ids of the spiders of these names (a name of no spider has none);
        a name the map lacks re-reads it once."""
        wanted = set(names)
        ids = [spider_id for spider_id, name in self.names.items() if name in wanted]
        if len(ids) < len(wanted) and not self.reread:
            self.reread = True
            self.names = _read(self.project)
            return self.ids_of(wanted)
        return ids


def spider_names(project: Project) -> SpiderNames:
    return SpiderNames(project)


def _version(project: Project) -> tuple[int, int]:
    return project.last_spider_number, project.spider_names_version


def _names(project: Project) -> dict[int, str]:
    cached = _cache.get(project.pk)
    if (
        cached is not None
        and cached[0] == _version(project)
        and time.monotonic() - cached[1] < REFRESH_SECONDS
    ):
        return cached[2]
    return _read(project)


def _read(project: Project) -> dict[int, str]:
    names = Spider.objects.names(project)
    _cache[project.pk] = (_version(project), time.monotonic(), names)
    return names


@receiver(post_save, sender=Spider, dispatch_uid="spidernames-saved")
@receiver(post_delete, sender=Spider, dispatch_uid="spidernames-deleted")
def _forget(sender: type[Spider], instance: Spider, created: bool = False, **kwargs: Any) -> None:
    _cache.pop(instance.project_id, None)
    if not created:
        # A new spider moves last_spider_number (or is a name no map has yet);
        # a rename or a deletion tells every other process through the project row.
        Project.objects.filter(pk=instance.project_id).update(
            spider_names_version=F("spider_names_version") + 1
        )


def forget_all() -> None:
    """Empty the cache (tests whose database is rolled back under it)."""
    _cache.clear()

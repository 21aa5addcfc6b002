"""The compiled SQL of `/list` requests, kept per server process.

Checking a list's parameters, building its queryset and compiling the SQL
took about 0.9 ms of the 2.5 ms that an unfiltered `/list?count=100`
took in-process, twice what PostgreSQL takes to answer it, and it gives
the same statement each time the same parameters come back, as they do
from a monitor polling its list. So the statement is kept, and a list
asked again goes straight to the database (docs/performance.md, "Kept
list plans").

A kept statement is a function of what its key holds, so nothing has to
be forgotten when jobs or spiders change:

- the database alias (a replica's reads are planned on the replica);
- the project;
- the ids of the spiders named, read afresh on every request from the
  spider names this process keeps (jobs/spidernames.py, which has its own
  invalidation): a spider added, renamed or deleted gives a new key;
- the list's own parameters, as sent (an invalid one never makes a plan).

A list with `stop` is planned afresh each time: where it stops is read
from the jobs. The parameters' validity depends on nothing else either:
the same parameters are valid again for the same project.
"""

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from django.db import router
from django.http import HttpRequest

from ..filters import FILTER_PARAMS, ListParamsForm
from ..models import Job, Project
from ..spidernames import SpiderNames
from .responses import CompiledRows

# Every parameter that shapes a list's SQL (the API key, for one, does not).
LIST_PARAMS = (*FILTER_PARAMS, *ListParamsForm.base_fields)
# A few hundred kept lists take a megabyte or two. A list whose query string
# is longer than MAX_KEPT_QUERY (many keys or tags: a one-off lookup) is not
# kept, which bounds both its key and its SQL.
MAX_PLANS = 256
MAX_KEPT_QUERY = 2000


@dataclass(frozen=True)
class ListPlan:
    rows: CompiledRows
    jobmeta: tuple[str, ...]
    stream: bool
    # False when the plan holds what was read from the jobs (`stop`).
    keep: bool


_plans: dict[Hashable, ListPlan] = {}
_lock = threading.Lock()


def list_plan(
    request: HttpRequest,
    project: Project,
    names: SpiderNames,
    build: Callable[[HttpRequest, Project], ListPlan],
) -> ListPlan:
    """The plan of this list: kept from an earlier request with the same
    key, else `build(request, project)` (which raises on invalid parameters).
    `names` are the project's spider names, which the request reads anyway."""
    if len(request.META.get("QUERY_STRING", "")) > MAX_KEPT_QUERY:
        return build(request, project)
    key = plan_key(request, project, names)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    plan = build(request, project)
    if plan.keep:
        with _lock:
            if len(_plans) >= MAX_PLANS:
                del _plans[next(iter(_plans))]  # the oldest
            _plans[key] = plan
    return plan


def plan_key(request: HttpRequest, project: Project, names: SpiderNames) -> Hashable:
    asked = request.GET
    params = tuple((name, tuple(asked.getlist(name))) for name in LIST_PARAMS if name in asked)
    # The names as the spider filter reads them (stripped, empty ones dropped).
    spiders = {name.strip() for name in asked.getlist("spider")} - {""}
    spider_ids = tuple(sorted(names.ids_of(spiders))) if spiders else ()
    return (router.db_for_read(Job), project.pk, spider_ids, params)

"""URLs of the dashboard's pages, built in one place: the job list with a
filter, a job's page, and the list narrowed by one more value."""

import functools
from collections.abc import Iterable

from django.http import QueryDict
from django.urls import get_script_prefix, reverse

from .filters import FILTER_PARAMS
from .keys import parse_job_key
from .models import Project, State

# What the picker and the "all but deleted" chip link to: every live state,
# spelled out so the URL says what it shows (and stays an API query).
ALL_BUT_DELETED = (State.PENDING, State.RUNNING, State.FINISHED)


def with_query(path: str, query: QueryDict) -> str:
    return f"{path}?{query.urlencode()}" if query else path


def job_list_path(project: Project) -> str:
    return reverse("job-list", kwargs={"project_id": project.pk})


def job_list_url(project: Project, states: Iterable[str] = ALL_BUT_DELETED, **filters: str) -> str:
    """The project's job list showing `states` (and any other filter given)."""
    query = QueryDict(mutable=True)
    query.setlist("state", list(states))
    for name, value in filters.items():
        query[name] = value
    return with_query(job_list_path(project), query)


def job_url_kwargs(key: str) -> dict[str, int]:
    """The URL arguments of a job's pages for a job key such as '53/7/81'."""
    parsed = parse_job_key(key)
    return {
        "project_id": parsed.project_id,
        "spider_number": parsed.spider_number,
        "job_number": parsed.number,
    }


# Numbers that never occur in a URL prefix by chance, standing in for a job's
# three numbers in its pages' URLs as reversed once per script prefix.
_SAMPLE_NUMBERS = {"project_id": 918273645, "spider_number": 827364591, "job_number": 736459182}


@functools.cache
def _job_url_format(name: str, script_prefix: str) -> str:
    """The URL of a job's page `name` with `{project_id}`, `{spider_number}`
    and `{job_number}` in place of the numbers: reverse() took 16 µs per
    job, and a list page links 50 jobs, live ones twice."""
    url = reverse(name, kwargs=_SAMPLE_NUMBERS)
    for field, number in _SAMPLE_NUMBERS.items():
        assert url.count(str(number)) == 1, url
        url = url.replace(str(number), f"{{{field}}}")
    return url


def job_page_url(name: str, key: str) -> str:
    """The URL of a job's page `name` ("job-detail", "job-cancel") for its key."""
    # Digits only go in, as the `id` converter writes them: nothing to quote.
    return _job_url_format(name, get_script_prefix()).format_map(job_url_kwargs(key))


def job_detail_url(key: str) -> str:
    return job_page_url("job-detail", key)


class FilterLinks:
    """The list's URL with one more filter value (a row's tag or spider),
    built once per value: rows repeat the same few tags."""

    def __init__(self, project: Project, filters: QueryDict) -> None:
        self.path = job_list_path(project)
        self.filters = filters
        self.urls: dict[tuple[str, str], str] = {}
        self.back: str | None = None

    def cancel(self, key: str) -> str:
        """The confirmation page that cancels a job, back to this list afterwards."""
        if self.back is None:
            query = QueryDict(mutable=True)
            query["back"] = self.filters.urlencode()
            self.back = query.urlencode()
        return f"{job_page_url('job-cancel', key)}?{self.back}"

    def adding(self, name: str, value: str) -> str:
        url = self.urls.get((name, value))
        if url is None:
            query = QueryDict(mutable=True)  # in the canonical order
            for param in FILTER_PARAMS:
                values = self.filters.getlist(param)
                if param == name and value not in values:
                    values = [*values, value]
                if values:
                    query.setlist(param, values)
            url = self.urls[name, value] = f"{self.path}?{query.urlencode()}"
        return url

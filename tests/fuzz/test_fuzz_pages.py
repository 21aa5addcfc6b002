"""Every dashboard page's parameters, generated, as a logged-in owner: the
job list, its live partial, chart, tag suggestions and exports, a job's
page, bulk actions, spiders, compare and runs. Never a 5xx, and a refused
form changes nothing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import FUZZ
from .strategies import id_segment, query_string, weighted

# Sets the test database up; the state itself is the module's (conftest.fuzzer).
pytestmark = pytest.mark.django_db
LIST_PARAMS = [
    *["spider", "state", "outcome", "startts", "endts", "has_tag", "lacks_tag"],
    *["before", "after", "range", "from", "to", "since", "watch", "usual", "key", "attention", "rule"],
]
FORM_PARAMS = [
    *["action", "tag", "key", "all", "confirm", "back", "spider", "tags", "priority", "once", "more"],
    *["arguments_name", "arguments_value", "units", *LIST_PARAMS],
]
job = st.tuples(id_segment(), id_segment()).map(lambda p: "/p/53/job/{}/{}/".format(*p))
GET_PAGES = [
    "/p/53/",
    "/p/53/live",
    "/p/53/chart",
    "/p/53/tags",
    "/p/53/export.csv",
    "/p/53/export.jsonl",
    "/p/53/job/1/1/",
    "/p/53/job/1/2/",
    "/p/53/spiders/",
    "/p/53/compare/",
    "/p/53/run/",
    "/p/53/alerts/history",
    "/p/53/job/1/1/cancel/",
]
POST_PAGES = ["/p/53/bulk/", "/p/53/run/", "/p/53/job/1/3/tags/", "/p/53/job/1/2/cancel/"]
htmx = st.sampled_from([{}, {"HX-Request": "true"}])


@settings(FUZZ, max_examples=1500)
@given(
    path=weighted((9, st.sampled_from(GET_PAGES)), (1, job)), query=query_string(LIST_PARAMS), headers=htmx
)
def test_pages_never_fail(fuzzer, path, query, headers):
    fuzzer.send("GET", path, query=query, api=False, headers=headers)


@settings(FUZZ, max_examples=500)
@given(path=st.sampled_from(POST_PAGES), form=query_string(FORM_PARAMS), headers=htmx)
def test_forms_never_fail_nor_half_apply(fuzzer, path, form, headers):
    fuzzer.send(
        "POST",
        path,
        body=form.encode(),
        content_type="application/x-www-form-urlencoded",
        write=True,
        api=False,
        headers=headers,
    )

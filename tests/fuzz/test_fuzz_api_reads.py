"""Every JobQ read endpoint's query parameters and path segments, generated:
never a 5xx, and every error is the JSON error shape."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import FUZZ
from .strategies import STATES, id_segment, path_segment, query_string

# Sets the test database up; the state itself is the module's (conftest.fuzzer).
pytestmark = pytest.mark.django_db
FILTERS = ["spider", "state", "startts", "endts", "has_tag", "lacks_tag", "outcome"]
LIST_PARAMS = [*FILTERS, "count", "start", "stop", "key", "jobmeta"]
FIELDS = ["spider", "state", "tags", "close_reason", "spider_args", "items", "note", "key", "ts"]

paths = st.one_of(
    st.sampled_from(["/jobq/53/count", "/jobq/53/list", "/jobq/53/summary", "/jobq/53/jobsummary"]),
    path_segment(STATES).map("/jobq/53/summary/{}".format),
    st.tuples(id_segment(), path_segment(STATES)).map(lambda p: "/jobq/53/{}/summary/{}".format(*p)),
    st.tuples(id_segment(), id_segment()).map(lambda p: "/jobs/53/{}/{}".format(*p)),
    st.tuples(id_segment(), id_segment(), path_segment(FIELDS)).map(lambda p: "/jobs/53/{}/{}/{}".format(*p)),
    path_segment(["books", "quotes", "none"]).map("/ids/53/spider/{}".format),
    id_segment().map("/jobq/{}/count".format),
)


@FUZZ
@given(
    path=paths, query=query_string([*LIST_PARAMS, "create"]), method=st.sampled_from(["GET", "GET", "HEAD"])
)
def test_reads_never_fail(fuzzer, path, query, method):
    if path.startswith("/ids/") and "create" in query:
        query = ""  # ?create=1 writes: the writes' fuzzer sends it
    fuzzer.send(method, path, query=query)

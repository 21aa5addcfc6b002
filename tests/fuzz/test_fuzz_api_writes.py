"""Every JobQ write endpoint's bodies and parameters, generated: never a
5xx, every error the JSON error shape, and a refused write leaves jobs,
counters, spiders and tags exactly as they were."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import FUZZ
from .strategies import KEYS, bodies, dumped, id_segment, json_values, path_segment, query_string

# Sets the test database up; the state itself is the module's (conftest.fuzzer).
pytestmark = pytest.mark.django_db
FIELDS = [
    "spider",
    "state",
    "tags",
    "close_reason",
    "spider_args",
    "items",
    "note",
    "key",
    "auth",
    "ts",
    "units",
]

cancel_bodies = (
    st.lists(st.fixed_dictionaries({"key": st.sampled_from(KEYS) | json_values}) | json_values, max_size=3)
    | json_values
).map(lambda value: dumped(value).encode())
job_path = st.tuples(id_segment(), id_segment()).map(lambda p: "/jobs/53/{}/{}".format(*p))
writes = st.one_of(
    st.tuples(st.sampled_from(["/jobq/53/push", "/jobq/53/update", "/jobq/53/startjob"]), bodies),
    st.tuples(st.just("/jobq/53/cancel"), cancel_bodies | bodies),
    st.tuples(
        st.tuples(id_segment(), id_segment()).map(lambda p: "/jobq/53/{}/{}/cancel".format(*p)), st.just(b"")
    ),
    st.tuples(job_path, bodies),
    st.tuples(st.tuples(job_path, path_segment(FIELDS)).map("/".join), bodies),
)


@settings(FUZZ, max_examples=1600)
@given(write=writes, query=query_string(["count", "spider", "key"]))
def test_posted_writes_never_fail_nor_half_apply(fuzzer, write, query):
    path, body = write
    fuzzer.send("POST", path, query=query, body=body, write=True)


@settings(FUZZ, max_examples=400)
@given(
    path=st.tuples(job_path, path_segment(FIELDS)).map("/".join) | job_path,
    name=path_segment(["books", "quotes", "new"]),
    create=st.sampled_from(["1", "true", "0", "", "\x00"]),
    which=st.sampled_from(["delete", "spider id"]),
)
def test_field_deletes_and_spider_creation_never_fail_nor_half_apply(fuzzer, path, name, create, which):
    if which == "delete":
        fuzzer.send("DELETE", path, write=True)
    else:
        fuzzer.send("GET", f"/ids/53/spider/{name}", query=f"create={create}", write=True)

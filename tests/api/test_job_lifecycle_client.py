"""The whole job lifecycle driven by the official scrapinghub client against a
live jobq: push, start, update, finish, delete, cancel, unique, metadata."""

import pytest
from scrapinghub.client.exceptions import BadRequest, Forbidden, NotFound
from scrapinghub.hubstorage.jobq import DuplicateJobError

from jobs.models import Job

from ..counting import assert_counts_exact
from ..factories import make_key


@pytest.fixture
def hsproject(shub):
    """The client's lower-level project: push_job and jobq.start live there."""
    return shub._hsclient.get_project(53)


def test_push_with_extras_priority_and_state(shub, hsproject):
    extras = {
        "text": "ünïcode ✓",
        "int": 3,
        "float": 0.25,
        "flag": False,
        "none": None,
        "list": [1, "a", [None]],
        "nested": {"a": {"b": 1.5}},
    }
    job = hsproject.push_job("books", priority=4, tags=["nightly"], **extras)
    assert job.key == "53/1/1"
    running = hsproject.push_job("books", state="running")
    assert running.key == "53/1/2"

    metadata = shub.get_job("53/1/1").metadata
    assert {name: metadata.get(name) for name in extras} == extras
    assert (metadata.get("priority"), metadata.get("tags"), metadata.get("state")) == (
        4,
        ["nightly"],
        "pending",
    )
    assert shub.get_job("53/1/2").metadata.get("state") == "running"
    assert shub.get_project(53).jobs.count(state="pending") == 1
    assert shub.get_project(53).jobs.count(state="running") == 1
    assert_counts_exact()


def test_start_returns_jobs_in_push_order(hsproject):
    keys = [hsproject.push_job(spider).key for spider in ["a", "b", "a", "c", "b"]]
    started = [hsproject.jobq.start() for _ in keys]
    assert [job["key"] for job in started] == keys
    assert {job["state"] for job in started} == {"running"}
    assert started[1]["spider"] == "b" and started[0]["auth"] is None
    assert hsproject.jobq.start() is None
    assert_counts_exact()


def test_start_finish_delete_through_job_methods(shub, hsproject):
    key = hsproject.push_job("books").key
    job = shub.get_job(key)
    assert job.start() == "pending"
    assert job.metadata.get("state") == "running"
    assert job.finish(close_reason="finished") == "running"
    assert (job.metadata.get("state"), job.metadata.get("close_reason")) == ("finished", "finished")
    assert job.delete() == "finished"
    metadata = dict(job.metadata.iter())
    assert metadata["state"] == "deleted"
    assert (
        metadata["pending_time"]
        <= metadata["running_time"]
        <= metadata["finished_time"]
        <= metadata["deleted_time"]
    )
    assert_counts_exact()


def test_update_with_state_and_extra_fields(shub, hsproject):
    key = hsproject.push_job("books").key
    job = shub.get_job(key)
    assert job.update(state="running", foo="bar", stats={"n": 1}) == "pending"
    assert (job.metadata.get("foo"), job.metadata.get("stats")) == ("bar", {"n": 1})
    assert job.update(state="finished", foo="baz") == "running"
    assert job.metadata.get("foo") == "baz" and job.metadata.get("stats") == {"n": 1}


def test_update_of_an_unknown_job_is_not_found(shub, hsproject):
    hsproject.push_job("books")
    with pytest.raises(NotFound):
        shub.get_job("53/1/99").update(state="finished")


def test_bad_update_is_a_bad_request_naming_the_line(shub, hsproject):
    key = hsproject.push_job("books").key
    with pytest.raises(BadRequest, match="line 1: state must be one of"):
        shub.get_job(key).update(state="exploded")
    assert shub.get_job(key).metadata.get("state") == "pending"


def test_jobq_start_finish_delete_and_the_spider_prefix(shub, hsproject):
    a = hsproject.push_job("a").key
    a2 = hsproject.push_job("a").key
    b = hsproject.push_job("b").key
    started = list(hsproject.jobq.start(a))  # start(job) is update(job, state=running)
    assert started == [{"key": a, "prevstate": "pending"}]
    assert list(hsproject.jobq.finish(a)) == [{"key": a, "prevstate": "running"}]
    # The spider prefix: every job of spider 1 that is not deleted.
    assert list(hsproject.jobq.delete("53/1")) == [
        {"key": a, "prevstate": "finished"},
        {"key": a2, "prevstate": "pending"},
    ]
    assert list(hsproject.jobq.delete("53/1")) == []
    assert shub.get_job(b).metadata.get("state") == "pending"
    assert shub.get_project(53).jobs.count(state="deleted") == 2
    assert_counts_exact()


def test_cancel_many_and_one(shub, hsproject):
    pending = hsproject.push_job("books").key
    running = hsproject.push_job("books", state="running").key
    other = hsproject.push_job("books").key
    assert shub.get_project(53).jobs.cancel([pending, running]) == {"count": 2}
    pending_meta = shub.get_job(pending).metadata
    assert (pending_meta.get("state"), pending_meta.get("close_reason")) == ("finished", "cancelled")
    assert pending_meta.get("cancelled_by") == "test"
    running_meta = shub.get_job(running).metadata
    assert (running_meta.get("state"), running_meta.get("cancelled_by")) == ("running", "test")

    job = shub.get_job(other)
    job.cancel()
    assert job.metadata.get("cancelled_by") == "test"
    assert job.metadata.get("state") == "finished"
    assert_counts_exact()


def test_unique_rules(shub, hsproject):
    first = hsproject.push_job("books", unique="daily-2024-01-01")
    with pytest.raises(DuplicateJobError, match="Active job exists with key daily-2024-01-01"):
        hsproject.push_job("books", unique="daily-2024-01-01")
    hsproject.jobq.start()
    with pytest.raises(DuplicateJobError):
        hsproject.push_job("books", unique="daily-2024-01-01")
    shub.get_job(first.key).finish()
    again = hsproject.push_job("books", unique="daily-2024-01-01")
    assert again.key == "53/1/2"
    assert Job.objects.filter(unique_key="daily-2024-01-01").count() == 2


def test_metadata_reads_and_edits(shub, hsproject):
    key = hsproject.push_job("books", version="v1", note="a").key
    metadata = shub.get_job(key).metadata
    metadata.set("note", "b")
    metadata.set("answer", {"is": [42]})
    metadata.update({"extra": True, "version": "v2"})
    metadata.delete("note")
    data = dict(metadata.iter())
    assert "note" not in data
    assert (data["answer"], data["extra"], data["version"]) == ({"is": [42]}, True, "v2")
    assert data["project"] == 53 and data["spider"] == "books"

    # The hubstorage JobMeta posts back the whole metadata on save().
    hsjob = hsproject.get_job(key)
    hsjob.metadata["saved"] = "yes"
    del hsjob.metadata["extra"]
    hsjob.metadata.save()
    hsjob.metadata.expire()
    assert hsjob.metadata["saved"] == "yes" and "extra" not in hsjob.metadata
    assert hsjob.metadata["state"] == "pending"


def test_read_only_key_cannot_write(live, project):
    from scrapinghub import ScrapinghubClient

    client = ScrapinghubClient(make_key(project, read_only=True), endpoint=live.url + "/", use_msgpack=False)
    try:
        with pytest.raises(Forbidden):
            client.get_project(53).jobs.cancel(["53/1/1"])
        with pytest.raises(Forbidden):
            client.get_job("53/1/1").update(state="finished")
    finally:
        client.close()

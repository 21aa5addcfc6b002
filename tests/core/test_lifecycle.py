"""jobs.lifecycle's bulk actions, which the dashboard calls: change_state
(delete, restore), add_tags, remove_tags. The counters must stay exact."""

import pytest

from jobs.lifecycle import add_tags, change_state, remove_tags
from jobs.models import Job, Tag

from ..counting import assert_counts_exact
from ..factories import BASE_TS, add_job


def test_delete_then_restore(project):
    finished = add_job(number=1, state="finished", ts=BASE_TS, finished_time=BASE_TS)
    running = add_job(number=2, state="running", ts=BASE_TS + 1)
    already = add_job(number=3, state="deleted", ts=BASE_TS + 2)

    changed = change_state(Job.objects.for_project(project), "deleted", by="alice")

    assert sorted(changed) == [(finished, "finished"), (running, "running")]
    assert_counts_exact()
    job = Job.objects.get(key=finished)
    assert job.state == "deleted"
    assert job.deleted_time == job.ts > BASE_TS
    assert job.finished_time == BASE_TS  # earlier times are kept
    assert job.meta["deleted_by"] == "alice"

    restored = change_state(Job.objects.filter(key__in=[finished, already]), "finished", by="bob")

    assert sorted(restored) == [(finished, "deleted"), (already, "deleted")]
    assert_counts_exact()
    job = Job.objects.get(key=finished)
    assert job.state == "finished"
    assert job.finished_time == BASE_TS  # it finished then, not now
    assert job.ts > BASE_TS  # but it came back now: list?stop= sees it
    assert job.meta["restored_by"] == "bob"
    # A job that never finished gets a finished_time when restored.
    assert Job.objects.get(key=already).finished_time is not None


def test_change_state_records_by_in_standard_fields(project):
    key = add_job(state="pending")
    change_state(Job.objects.filter(key=key), "running", by="runner")
    change_state(Job.objects.filter(key=key), "finished", by="runner2")
    job = Job.objects.get(key=key)
    assert (job.started_by, job.completed_by) == ("runner", "runner2")
    assert job.running_time and job.finished_time


def test_change_state_leaves_jobs_already_there(project):
    key = add_job(state="deleted", ts=BASE_TS)
    assert change_state(Job.objects.all(), "deleted") == []
    assert Job.objects.get(key=key).ts == BASE_TS


def test_change_state_refuses_unknown_state(project):
    with pytest.raises(ValueError):
        change_state(Job.objects.all(), "bogus")


def test_change_state_in_chunks(project, monkeypatch):
    monkeypatch.setattr("jobs.lifecycle.CHUNK_SIZE", 3)
    keys = [add_job() for _ in range(7)]
    changed = change_state(Job.objects.all(), "deleted")
    assert sorted(key for key, _ in changed) == sorted(keys)
    assert Job.objects.filter(state="deleted").count() == 7
    assert_counts_exact()


def test_add_and_remove_tags(project, other_project):
    a = add_job(tags=["old"])
    b = add_job(tags=["new"])
    c = add_job(project_id=54, spider="x")

    assert add_tags(Job.objects.filter(key__in=[a, b]), ["new", "été"]) == 2
    assert Job.objects.get(key=a).tags == ["old", "new", "été"]
    assert Job.objects.get(key=b).tags == ["new", "été"]
    assert Job.objects.get(key=c).tags == []
    assert set(Tag.objects.filter(project=project).values_list("name", flat=True)) == {"old", "new", "été"}
    # Already there: nothing changes.
    assert add_tags(Job.objects.filter(key=a), ["new"]) == 0

    assert remove_tags(Job.objects.all(), ["new", "absent"]) == 2
    assert Job.objects.get(key=a).tags == ["old", "été"]
    assert Job.objects.get(key=b).tags == ["été"]
    assert_counts_exact()


def test_add_tags_to_a_filtered_selection_remembers_the_tag(project):
    # The selection stops matching once tagged (lacks_tag): the tag is still remembered.
    key = add_job()
    assert add_tags(Job.objects.filter(key=key).exclude(tags__overlap=["fresh"]), ["fresh"]) == 1
    assert Tag.objects.filter(project=project, name="fresh").exists()


def test_add_tags_refuses_bad_tags(project):
    add_job()
    with pytest.raises(ValueError):
        add_tags(Job.objects.all(), ["x" * 256])


def test_tags_in_chunks_on_a_selection_that_stops_matching(project, monkeypatch):
    monkeypatch.setattr("jobs.lifecycle.CHUNK_SIZE", 2)
    keys = [add_job(tags=["keep"] if i % 2 else []) for i in range(7)]
    selection = Job.objects.for_project(project).exclude(tags__overlap=["done"])
    assert add_tags(selection, ["done"]) == 7
    assert all("done" in Job.objects.get(key=key).tags for key in keys)
    assert remove_tags(Job.objects.filter(tags__overlap=["done"]), ["done"]) == 7
    assert_counts_exact()

"""manage.py import_jobs"""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from jobs.models import Job, JobCount, Project, Spider, Tag

from ..factories import BASE_TS, job_line


def write_lines(tmp_path, lines, name="jobs.jl"):
    path = tmp_path / name
    path.write_text(
        "".join(
            (json.dumps(line, ensure_ascii=False) if not isinstance(line, str) else line) + "\n"
            for line in lines
        )
    )
    return path


def run(path, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_jobs", str(path), stdout=out, stderr=err, **options)
    return out.getvalue().strip(), err.getvalue()


def counters_match():
    for row in JobCount.objects.values("project_id", "spider_id", "state", "n"):
        assert (
            row["n"]
            == Job.objects.filter(
                project_id=row["project_id"], spider_id=row["spider_id"], state=row["state"]
            ).count()
        )
    assert sum(JobCount.objects.values_list("n", flat=True)) == Job.objects.count()


@pytest.mark.django_db
def test_import_creates_projects_spiders_jobs_and_counters(tmp_path):
    lines = [
        job_line(53, "books", 7, 81, tags=["a", "b"], scrapystats={"item_scraped_count": 4}),
        job_line(53, "books", 7, 82, state="running"),
        job_line(54, "quotes", 1, 1, state="deleted", deleted_time=BASE_TS),
    ]
    summary, progress = run(write_lines(tmp_path, lines))
    assert summary == "3 jobs read: 3 created, 0 updated, 0 unchanged, in 2 project(s)."
    assert "3 jobs imported" in progress
    assert set(Project.objects.values_list("pk", flat=True)) == {53, 54}
    books = Spider.objects.get(project_id=53, name="books")
    assert books.number == 7 and books.last_job_number == 82
    assert Project.objects.get(pk=53).last_spider_number == 7
    job = Job.objects.get(key="53/7/81")
    assert job.tags == ["a", "b"] and job.items == 4 and job.ts == lines[0]["ts"]
    assert set(Tag.objects.filter(project_id=53).values_list("name", flat=True)) == {"a", "b"}
    counters_match()


@pytest.mark.django_db
def test_importing_twice_changes_nothing(tmp_path):
    path = write_lines(
        tmp_path, [job_line(number=n, tags=["x"], meta_field={"a": [1, 2]}) for n in range(1, 6)]
    )
    run(path)
    before = list(Job.objects.order_by("id").values())
    summary, _ = run(path)
    assert summary == "5 jobs read: 0 created, 0 updated, 5 unchanged, in 1 project(s)."
    assert list(Job.objects.order_by("id").values()) == before
    counters_match()


@pytest.mark.django_db
def test_upsert_moves_counters(tmp_path):
    run(write_lines(tmp_path, [job_line(number=1, state="running")]))
    summary, _ = run(
        write_lines(tmp_path, [job_line(number=1, state="finished", close_reason="finished")], "b.jl")
    )
    assert "1 updated" in summary
    assert Job.objects.get().state == "finished"
    counters_match()


@pytest.mark.django_db
def test_ts_defaults_to_the_time_of_the_current_state(tmp_path):
    line = {"key": "53/1/1", "spider": "s", "state": "running", "pending_time": 10, "running_time": 20}
    run(write_lines(tmp_path, [line]))
    assert Job.objects.get().ts == 20


@pytest.mark.django_db
def test_a_bad_line_is_reported_and_its_batch_not_written(tmp_path):
    good = [job_line(number=n) for n in range(1, 6)]
    lines = [*good[:4], '{"key": "53/1/9", "spider": "s", "state": "exploded", "ts": 1}', *good[4:]]
    with pytest.raises(CommandError, match=r"line 5: .*state"):
        run(write_lines(tmp_path, lines), batch_size=3)
    # lines 1-3 formed a complete batch; line 4 shared the bad line's batch
    assert sorted(Job.objects.values_list("number", flat=True)) == [1, 2, 3]
    counters_match()


@pytest.mark.django_db
def test_a_file_that_cannot_be_read_further_keeps_the_batches_before(tmp_path):
    """The next batch is read while the current one is written: a read error
    in it (not UTF-8 here) still lets the current batch commit. The file is
    decoded 8 KB at a time: line 4 is long enough to put the bad byte well
    past the lines of the first batch."""
    path = tmp_path / "jobs.jl"
    good = [json.dumps(job_line(number=n)) for n in range(1, 4)]
    long = json.dumps(job_line(number=4, note="x" * 20_000))
    path.write_bytes(("\n".join([*good, long]) + "\n").encode() + b'{"key": "53/1/\xff"}\n')
    with pytest.raises(CommandError, match=r"jobs\.jl: 'utf-8' codec can't decode byte 0xff"):
        run(path, batch_size=3)
    assert sorted(Job.objects.values_list("number", flat=True)) == [1, 2, 3]
    counters_match()


@pytest.mark.parametrize("size", ["0", "-1"])
@pytest.mark.django_db
def test_a_batch_size_below_one_is_refused(tmp_path, size):
    with pytest.raises(CommandError, match=r"--batch-size must be at least 1"):
        call_command("import_jobs", str(write_lines(tmp_path, [job_line(number=1)])), "--batch-size", size)
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"key": "53/1", "spider": "s", "state": "finished", "ts": 1}', "not a job key"),
        ('{"key": "53/1/1", "state": "finished", "ts": 1}', "spider"),
        ('{"key": "53/1/1", "spider": "s", "ts": 1}', "state is missing"),
        ('{"key": "53/1/1", "spider": "s", "state": "finished"}', "ts is missing"),
        ('{"key": "53/1/1", "spider": "s", "state": "finished", "ts": 1, "tags": "a\\u0000"}', "NUL"),
        ('{"key": "53/1/1", "spider": "s", "state": "finished", "ts": 1, "priority": 9}', "priority"),
        (
            '{"key": "53/1/1", "spider": "s", "state": "finished", "ts": 1, "n": 99999999999999999999}',
            "64-bit",
        ),
        ('{"key": "53/1/1", "spider": "s", "state": "finished", "ts": 1, "project": 54}', "project"),
        ('{"key": "53/1/1", "spider": "s", "state": "finished", "ts": "yesterday"}', "ts must be"),
        # Times beyond 9999-12-31 (microseconds by mistake) or before 1970.
        (
            '{"key": "53/1/1", "spider": "s", "state": "finished", "ts": 1700000000000000}',
            "ts must be a time in milliseconds since 1970, from 0",
        ),
        (
            '{"key": "53/1/1", "spider": "s", "state": "finished", "finished_time": 1700000000000000}',
            "finished_time must be a time in milliseconds",
        ),
        (
            '{"key": "53/1/1", "spider": "s", "state": "finished", "ts": 1, "pending_time": -1}',
            "pending_time must be a time in milliseconds",
        ),
        ('{"key": "53/1/1", "spider": "s", "state": "finished", "ts": -1}', "ts must be a time"),
    ],
)
@pytest.mark.django_db
def test_bad_lines(tmp_path, line, message):
    with pytest.raises(CommandError, match=f"line 1: .*{message}"):
        run(write_lines(tmp_path, [line]))
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_spider_name_must_match_its_id(tmp_path):
    run(write_lines(tmp_path, [job_line(53, "books", 1, 1)]))
    with pytest.raises(CommandError, match="line 1: spider 1 of project 53 is 'books', not 'other'"):
        run(write_lines(tmp_path, [job_line(53, "other", 1, 2)], "b.jl"))
    with pytest.raises(CommandError, match="line 1: spider 'books' already has id 1"):
        run(write_lines(tmp_path, [job_line(53, "books", 2, 2)], "c.jl"))


@pytest.mark.django_db
def test_reads_standard_input(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(job_line(number=3)) + "\n\n"))
    out = io.StringIO()
    call_command("import_jobs", "-", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("1 jobs read: 1 created")


@pytest.mark.django_db
def test_nul_free_text_on_both_databases(tmp_path):
    """PostgreSQL refuses NUL in text and jsonb, SQLite would keep it: both refuse."""
    line = json.dumps(job_line(number=1, note="a\u0000b"))
    with pytest.raises(CommandError, match="NUL"):
        run(write_lines(tmp_path, [line]))
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.django_db
def test_missing_file(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(tmp_path / "nope.jl")

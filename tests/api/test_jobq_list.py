"""GET /jobq/<project>/list"""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..factories import BASE_TS, add_job, add_jobs, job_line

JSONLINES = "application/x-jsonlines; charset=utf-8"


def lines(api, query=""):
    response = api.get(f"/jobq/53/list{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == JSONLINES
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == b"" or body.endswith(b"\n")
    assert not body.startswith(b"[")
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def keys(api, query=""):
    return [line["key"] for line in lines(api, query)]


def test_empty_result_is_an_empty_body(api, project):
    response = api.get("/jobq/53/list")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Type"] == JSONLINES


def test_line_shape_without_jobmeta(api, project):
    add_job(
        number=81,
        spider_number=7,
        spider="books",
        ts=BASE_TS,
        pending_time=BASE_TS - 2000,
        running_time=BASE_TS - 1000,
        finished_time=BASE_TS,
        tags=["a"],
        close_reason="finished",
        scrapystats={"item_scraped_count": 10, "response_received_count": 12, "log_count/ERROR": 1},
        version="1.0",
        spider_args={"x": 1},
        custom="hidden",
    )
    (line,) = lines(api)
    elapsed = line.pop("elapsed")
    assert isinstance(elapsed, int) and elapsed > 0
    assert line == {
        "key": "53/7/81",
        "ts": BASE_TS,
        "state": "finished",
        "spider": "books",
        "pending_time": BASE_TS - 2000,
        "running_time": BASE_TS - 1000,
        "finished_time": BASE_TS,
        "tags": ["a"],
        "close_reason": "finished",
        "items": 10,
        "pages": 12,
        "errors": 1,
        "version": "1.0",
        # What Spidermon's jobs comparison reads to find runs with the same arguments.
        "spider_args": {"x": 1},
    }


def test_no_tags_key_when_the_job_has_none(api, project):
    add_job()
    (line,) = lines(api)
    assert "tags" not in line


def test_compact_lines(api, project):
    add_job(tags=["a"])
    body = api.get("/jobq/53/list").content
    assert b": " not in body and b", " not in body


def test_newest_first_with_a_deterministic_tie_break(api, project):
    same = [job_line(ts=BASE_TS + 5000) for _ in range(3)]
    add_jobs(job_line(ts=BASE_TS), *same, job_line(ts=BASE_TS + 9000))
    order = keys(api)
    assert [k for k in order if k in {line["key"] for line in same}] == [
        line["key"] for line in reversed(same)
    ]
    assert order == keys(api)  # stable
    paged = [keys(api, f"?count=1&start={i}")[0] for i in range(5)]
    assert paged == order


def test_count_and_start(api, project):
    add_jobs(*[job_line() for _ in range(10)])
    everything = keys(api)
    assert keys(api, "?count=3") == everything[:3]
    assert keys(api, "?count=3&start=3") == everything[3:6]
    assert keys(api, "?start=8") == everything[8:]
    assert keys(api, "?count=0") == []


def test_at_most_1000_without_count_and_streams_more_when_asked(api, project):
    add_jobs(*[job_line() for _ in range(1205)])
    assert len(keys(api)) == 1000
    response = api.get("/jobq/53/list?count=1200")
    assert response.streaming
    everything = keys(api, "?count=5000")
    assert len(everything) == 1205
    assert len(set(everything)) == 1205
    # deep offsets go through the deferred join; same rows either way
    assert keys(api, "?start=1100&count=50") == everything[1100:1150]


def test_stop_is_the_incremental_download_idiom(api, project):
    first = add_jobs(*[job_line() for _ in range(3)])
    newest_seen = keys(api)[0]
    assert newest_seen == first[-1]
    assert keys(api, f"?stop={newest_seen}") == []
    later = add_jobs(*[job_line() for _ in range(2)])
    assert keys(api, f"?stop={newest_seen}") == list(reversed(later))
    # a stop key further down lists down to it, excluding it
    everything = keys(api)
    assert keys(api, f"?stop={everything[3]}") == everything[:3]


def test_stop_with_equal_timestamps(api, project):
    add_jobs(*[job_line(ts=BASE_TS) for _ in range(4)])
    everything = keys(api)
    assert keys(api, f"?stop={everything[2]}") == everything[:2]


def test_stop_job_that_left_the_listed_states_is_never_met(api, project):
    """The stop job was deleted after it was seen: its ts moved past the jobs
    that finished since, so the listing must not stop at it (no gap)."""
    seen = add_job(ts=BASE_TS)
    finished_since = add_jobs(job_line(ts=BASE_TS + 1000), job_line(ts=BASE_TS + 2000))
    add_jobs(job_line(number=int(seen.rsplit("/", 1)[1]), state="deleted", ts=BASE_TS + 3000))
    assert keys(api, f"?stop={seen}") == list(reversed(finished_since))
    assert keys(api, f"?stop={seen}&state=deleted") == []


def test_stop_asked_again_stops_where_the_stop_job_is_now(api, project):
    """A list with `stop` asked again reads the stop job's place again: the
    job moved on (finished -> deleted) within the listed states."""
    older, seen, newer = add_jobs(*[job_line() for _ in range(3)])
    query = f"?stop={seen}&state=finished&state=deleted"
    assert keys(api, query) == [newer]
    add_jobs(job_line(number=int(seen.rsplit("/", 1)[1]), state="deleted", ts=BASE_TS + 10**10))
    assert keys(api, query) == []
    assert keys(api, "?state=finished&state=deleted") == [seen, newer, older]


def test_a_list_asked_again_lists_what_was_written_since(api, project):
    query = "?spider=books&has_tag=a&count=10"
    first = add_job(tags=["a"])
    assert keys(api, query) == [first]
    second = add_job(tags=["a"])
    add_job(tags=["b"])
    assert keys(api, query) == [second, first]


def test_the_same_parameters_list_each_project_its_own_jobs(client, project, other_project):
    import base64

    from ..factories import make_key

    token = base64.b64encode(f"{make_key(project, other_project)}:".encode()).decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    ours = add_job(spider="books", spider_number=1)
    theirs = add_job(project_id=54, spider="books", spider_number=1)
    for query in ("?count=10", "?count=10&spider=books"):
        for project_id, key in ((53, ours), (54, theirs), (53, ours)):
            response = client.get(f"/jobq/{project_id}/list{query}")
            assert [json.loads(line)["key"] for line in response.content.splitlines()] == [key]


def test_stop_unknown_job_lists_everything(api, project):
    add_jobs(*[job_line() for _ in range(2)])
    assert len(keys(api, "?stop=53/99/99")) == 2


def test_key_filter(api, project):
    made = add_jobs(*[job_line() for _ in range(4)])
    assert keys(api, f"?key={made[0]}&key={made[2]}") == [made[2], made[0]]
    assert keys(api, "?key=53/9/9") == []


def test_key_filter_respects_state_default(api, project):
    running = add_job(state="running")
    assert keys(api, f"?key={running}") == []
    assert keys(api, f"?key={running}&state=running") == [running]


def test_jobmeta_selects_fields(api, project):
    add_job(
        spider="books",
        tags=["a"],
        close_reason="finished",
        scheduled_by="alice",
        custom={"nested": [1, 2.5, None, True]},
        scrapystats={"item_scraped_count": 3},
    )
    add_job(spider="books")
    without, with_tags = lines(api, "?jobmeta=scheduled_by&jobmeta=custom&jobmeta=missing&jobmeta=spider")
    assert set(without) == {"key", "ts", "state", "elapsed", "spider"}
    assert with_tags.pop("elapsed") >= 0
    assert with_tags == {
        "key": with_tags["key"],
        "ts": with_tags["ts"],
        "state": "finished",
        "tags": ["a"],
        "scheduled_by": "alice",
        "custom": {"nested": [1, 2.5, None, True]},
        "spider": "books",
    }
    (_, line) = lines(api, "?jobmeta=scrapystats&jobmeta=project&jobmeta=items")
    assert line["scrapystats"] == {"item_scraped_count": 3}
    assert line["project"] == 53
    assert line["items"] == 3
    assert "spider" not in line


def test_filters_apply_to_the_list(api, project):
    add_job(spider="books", tags=["x"], ts=BASE_TS)
    keep = add_job(spider="books", tags=["y"], ts=BASE_TS + 10_000)
    add_job(spider="quotes", spider_number=2, tags=["y"], ts=BASE_TS + 20_000)
    assert keys(api, f"?spider=books&lacks_tag=x&startts={BASE_TS}&endts={BASE_TS + 20_000}") == [keep]


def test_non_ascii_round_trips(api, project):
    add_job(spider="книги", tags=["标签"], note="ünïcödé")
    (line,) = lines(api, "?jobmeta=note&jobmeta=spider")
    assert line["spider"] == "книги" and line["tags"] == ["标签"] and line["note"] == "ünïcödé"
    assert "книги".encode() in api.get("/jobq/53/list").content


def test_list_queries(api, project, django_assert_num_queries):
    add_jobs(*[job_line(spider=f"s{i}", spider_number=i + 1, tags=["t"]) for i in range(20)])
    api.get("/jobq/53/count")
    # the key with its project, spider names, the jobs: no query per job or spider
    with django_assert_num_queries(3):
        assert len(lines(api, "?has_tag=t&count=100")) == 20
    # the stop job's lookup; the spider names are known by then (jobs/spidernames.py)
    with django_assert_num_queries(3):
        lines(api, "?stop=53/1/1")


@pytest.mark.parametrize(
    "query, param",
    [
        ("count=-1", "count"),
        ("count=abc", "count"),
        ("count=99999999999999999999", "count"),
        ("start=-5", "start"),
        ("start=1.5", "start"),
        ("stop=not-a-key", "stop"),
        ("stop=53/1", "stop"),
        ("stop=53/0/1", "stop"),
        ("stop=54/1/1", "stop"),
        ("stop=53/1/99999999999999999999", "stop"),
        ("key=zz/1/1", "key"),
        ("key=53/1/1&key=53/x/1", "key"),
        ("key=54/1/1", "key"),
        ("key=53/1/1%00", "key"),
        ("jobmeta=a%00", "jobmeta"),
        ("count=1&count=2", "count"),
        ("start=1&start=2", "start"),
        ("stop=53/1/1&stop=53/1/2", "stop"),
        ("state=nope", "state"),
        ("startts=x", "startts"),
    ],
)
def test_bad_parameters_are_400(api, project, query, param):
    response = api.get(f"/jobq/53/list?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["param"] == param
    assert body["error"] == "invalid_parameter"
    assert body["message"]


# --- spider names, kept per process (jobs/spidernames.py) -------------------------


def test_a_list_reads_spider_names_once_per_process(api, project, django_assert_num_queries):
    add_job(spider="books", spider_number=1)
    assert [line["spider"] for line in lines(api)] == ["books"]
    # The key with its project, the jobs: the spiders are known already.
    with django_assert_num_queries(2):
        assert [line["spider"] for line in lines(api)] == ["books"]


def test_a_spider_added_after_a_list_is_named(api, project):
    add_job(spider="books", spider_number=1)
    assert {line["spider"] for line in lines(api)} == {"books"}
    add_job(spider="quotes", spider_number=2)
    assert {line["spider"] for line in lines(api)} == {"books", "quotes"}


def test_a_spider_added_below_the_last_number_without_signals_is_named(api, project):
    from jobs.models import Project, Spider

    add_job(spider="books", spider_number=5)
    assert {line["spider"] for line in lines(api)} == {"books"}
    # An id the cached names lack makes them read again, whatever added it.
    Spider.objects.bulk_create([Spider(project=project, number=2, name="late")])
    assert Project.objects.get(pk=53).last_spider_number == 5
    add_job(spider="late", spider_number=2)
    assert {line["spider"] for line in lines(api)} == {"books", "late"}


def test_a_renamed_spider_is_listed_under_its_new_name(api, project):
    from jobs.models import Spider

    add_job(spider="books", spider_number=1)
    assert [line["spider"] for line in lines(api)] == ["books"]
    spider = Spider.objects.get(project=project, number=1)
    spider.name = "novels"
    spider.save()
    assert [line["spider"] for line in lines(api)] == ["novels"]


def test_a_spider_filter_follows_a_rename_made_by_another_process(api, project):
    from django.db.models import F

    from jobs.models import Project, Spider

    add_job(spider="books", spider_number=1)
    assert len(lines(api, "?spider=books")) == 1  # this process now keeps the names
    # What saving the spider does in another process: the row, and the project's
    # version of its names; this process's own cache is not told.
    Spider.objects.filter(project=project, number=1).update(name="novels")
    Project.objects.filter(pk=53).update(spider_names_version=F("spider_names_version") + 1)
    assert lines(api, "?spider=books") == []
    assert [line["spider"] for line in lines(api, "?spider=novels")] == ["novels"]


def test_saving_or_deleting_a_spider_moves_the_project_version_of_its_names(api, project):
    from jobs.models import Project, Spider

    def version():
        return Project.objects.get(pk=53).spider_names_version

    add_job(spider="books", spider_number=1)
    add_job(spider="films", spider_number=2)
    before = version()
    spider = Spider.objects.get(project=project, number=1)
    spider.name = "novels"
    spider.save()
    assert version() == before + 1
    assert len(lines(api, "?spider=films")) == 1  # kept: films is spider 2
    Spider.objects.get(project=project, number=2).delete()
    assert version() == before + 2
    # A spider of a name deleted and made again has a new id: the filter finds it.
    add_job(spider="films", spider_number=3)
    assert [line["key"].split("/")[1] for line in lines(api, "?spider=films")] == ["3"]


def test_a_stream_goes_out_in_few_large_writes(api, project):
    add_jobs(*[job_line() for _ in range(2500)])
    response = api.get("/jobq/53/list?count=3000")
    assert response.streaming
    chunks = list(response.streaming_content)
    # A small first write (its first byte leaves at once), then 2,000 lines a write.
    assert [chunk.count(b"\n") for chunk in chunks] == [100, 2000, 400]
    assert len({json.loads(line)["key"] for line in b"".join(chunks).splitlines()}) == 2500


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's")
def test_a_stream_is_read_without_jit(api, project):
    # Planned for all its rows, a long list is above jit_above_cost; compiling
    # it would hold the first row back (jobqsite/settings.py, without_jit).
    add_jobs(*[job_line() for _ in range(1200)])
    chunks = iter(api.get("/jobq/53/list?count=2000").streaming_content)
    next(chunks)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit')")
        assert cursor.fetchone() == ("off",)
    assert sum(chunk.count(b"\n") for chunk in chunks) == 1100


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_a_deep_offset_skips_its_rows_in_the_index_alone(api, project):
    add_jobs(*[job_line() for _ in range(30)])
    with CaptureQueriesContext(connection) as captured:
        assert len(lines(api, "?start=1000")) == 0
    (sql,) = [q["sql"] for q in captured.captured_queries if "OFFSET 1000" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    # job_project_ts holds the state the default filter checks: no row is visited to skip it.
    assert "Index Only Scan using job_project_ts" in plan

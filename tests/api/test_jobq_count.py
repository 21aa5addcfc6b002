"""GET /jobq/<project>/count"""

import itertools
import random
from urllib.parse import urlencode

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.models import STATES, Job
from jobs.outcomes import badge_of

from ..counting import assert_counts_exact
from ..factories import BASE_TS, add_job, add_jobs, job_line


@pytest.fixture
def tagged(project):
    """The contract's example: two finished jobs tagged tagA and tagB."""
    return [add_job(tags=["tagA"]), add_job(tags=["tagB"])]


def count(api, query=""):
    response = api.get(f"/jobq/53/count{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return int(response.content)


def test_contract_example(api, tagged):
    assert count(api) == 2
    assert count(api, "?has_tag=tagA&has_tag=tagB") == 2
    assert count(api, "?has_tag=tagA") == 1
    assert count(api, "?lacks_tag=tagA&lacks_tag=tagB") == 0
    assert count(api, "?lacks_tag=tagA") == 1
    assert count(api, "?has_tag=tagA&lacks_tag=tagA") == 0


def test_bare_json_integer(api, tagged):
    assert api.get("/jobq/53/count").content == b"2"


def test_finished_only_by_default_and_states_or(api, project):
    add_job(state="finished")
    add_job(state="running")
    add_job(state="pending")
    add_job(state="deleted")
    assert count(api) == 1
    assert count(api, "?state=running") == 1
    assert count(api, "?state=running&state=pending") == 2
    assert count(api, "?state=pending&state=running&state=finished&state=deleted") == 4


def test_spider_exact_name(api, project):
    add_job(spider="books", spider_number=1)
    add_job(spider="books", spider_number=1)
    add_job(spider="books2", spider_number=2)
    assert count(api, "?spider=books") == 2
    assert count(api, "?spider=book") == 0
    assert count(api, "?spider=unknown") == 0


def test_time_window_startts_inclusive_endts_exclusive(api, project):
    for offset in (0, 1000, 2000, 3000):
        add_job(ts=BASE_TS + offset)
    assert count(api, f"?startts={BASE_TS + 1000}&endts={BASE_TS + 3000}") == 2
    assert count(api, f"?startts={BASE_TS + 1000}") == 3
    assert count(api, f"?endts={BASE_TS + 1000}") == 1
    assert count(api, f"?startts={BASE_TS + 3001}") == 0


def test_groups_combine_with_and(api, project):
    add_job(spider="books", spider_number=1, tags=["x"], ts=BASE_TS)
    add_job(spider="books", spider_number=1, tags=["y"], ts=BASE_TS + 5000)
    add_job(spider="quotes", spider_number=2, tags=["x"], ts=BASE_TS + 5000)
    add_job(spider="books", spider_number=1, tags=["x"], ts=BASE_TS + 5000, state="running")
    assert count(api, f"?spider=books&has_tag=x&startts={BASE_TS + 1}") == 0
    assert count(api, "?spider=books&has_tag=x") == 1
    assert count(api, "?spider=books&has_tag=x&state=running&state=finished") == 2


def test_counters_agree_with_a_scan(api, project):
    """Unfiltered, spider and state counts come from the counters; a time
    filter forces a real count. Both must agree."""
    lines = [
        job_line(spider=f"s{i % 3}", spider_number=i % 3 + 1, state=s)
        for i, s in enumerate(["finished", "running", "pending", "deleted"] * 5)
    ]
    add_jobs(*lines)
    for query in ("", "?state=running", "?spider=s1", "?spider=s1&state=pending&state=deleted"):
        sep = "&" if query else "?"
        assert count(api, query) == count(api, f"{query}{sep}startts=0")


def test_unfiltered_count_does_not_scan_jobs(api, tagged, django_assert_num_queries):
    api.get("/jobq/53/count")  # records the key's last use
    # the key with its project, the counters' sum
    with django_assert_num_queries(2) as captured:
        assert count(api, "?state=finished&spider=books") == 2
    assert not any(
        '"jobs_job"' in q["sql"] and "COUNT" in q["sql"].upper() for q in captured.captured_queries
    )


def test_tag_count_queries(api, tagged, django_assert_num_queries):
    api.get("/jobq/53/count")
    # the key with its project, the tag counters' sum
    with django_assert_num_queries(2):
        assert count(api, "?has_tag=tagA") == 1


def test_non_ascii_tags_and_spiders(api, project):
    add_job(spider="книги", tags=["标签", "ä"])
    assert count(api, "?spider=книги&has_tag=标签") == 1
    assert count(api, "?lacks_tag=ä") == 0


@pytest.mark.parametrize(
    "query, param",
    [
        ("startts=abc", "startts"),
        ("endts=1.5e3", "endts"),
        ("startts=99999999999999999999", "startts"),
        ("endts=-99999999999999999999", "endts"),
        ("state=bogus", "state"),
        ("state=finished&state=bogus", "state"),
        ("has_tag=" + "x" * 256, "has_tag"),
        ("lacks_tag=a%00b", "lacks_tag"),
        ("spider=" + "s" * 256, "spider"),
        ("spider=a%00", "spider"),
        ("startts=1%002", "startts"),
        ("spider=a&spider=b", "spider"),
        ("startts=1&startts=2", "startts"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(api, project, query, param):
    response = api.get(f"/jobq/53/count?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["param"] == param
    assert param in body["message"]


def test_repeated_scalar_with_same_value_is_fine(api, tagged):
    assert count(api, "?spider=books&spider=books") == 2


def test_unknown_parameters_are_ignored(api, tagged):
    assert count(api, "?foo=bar&count=zz") == 2


# --- every count the counters answer, against the jobs themselves ----------------

DAY = 86_400_000
# Midnight UTC, 2023-11-14: the random jobs' days start here.
DAY0 = (BASE_TS // DAY) * DAY
SPIDERS = ("s1", "s2", "s3")
TAGS = ("a", "b", "c")
REASONS = (None, "finished", "failed", "cancelled", "closespider_timeout", "banned")


def post_lines(api, path, lines):
    body = b"\n".join(orjson.dumps(line) for line in lines)
    response = api.generic("POST", path, body, content_type="")
    assert response.status_code == 200, response.content
    return response


def random_jobs(api, rng):
    """Jobs pushed, started, moved, retagged, re-timed and deleted through
    the API, at times spread over a few days and across midnights."""

    def random_time():
        return DAY0 + rng.randrange(-DAY, 4 * DAY)

    pushes = []
    for _ in range(120):
        state = rng.choice(["pending", "running", "finished", "finished", "deleted"])
        line = {
            "spider": rng.choice(SPIDERS),
            "state": state,
            f"{state}_time": random_time(),
            "tags": rng.sample(TAGS, rng.randrange(0, 3)),
        }
        if state == "finished":
            line["close_reason"] = rng.choice(REASONS)
        pushes.append(line)
    keys = [
        answer["key"]
        for answer in map(orjson.loads, post_lines(api, "/jobq/53/push", pushes).content.split())
    ]
    for _ in range(5):
        api.generic("POST", "/jobq/53/startjob", b"{}", content_type="")
    updates = []
    for key in rng.sample(keys, 60):
        change = {"key": key}
        kind = rng.randrange(5)
        if kind == 0:
            change["state"] = rng.choice(["pending", "running", "finished", "deleted"])
        elif kind == 1:
            change["tags"] = rng.sample(TAGS, rng.randrange(0, 4))
        elif kind == 2:
            change["state"] = "finished"
            change["finished_time"] = random_time()
            change["close_reason"] = rng.choice(REASONS)
        elif kind == 3:
            change["close_reason"] = rng.choice(REASONS)
        else:
            change["state"] = "deleted"
        updates.append(change)
    post_lines(api, "/jobq/53/update", updates)
    for key in rng.sample(keys, 10):
        response = api.generic(
            "POST", f"/jobs/{key}", orjson.dumps({"tags": rng.sample(TAGS, 2)}), content_type=""
        )
        assert response.status_code == 200, response.content
    for key in rng.sample(keys, 5):
        assert api.delete(f"/jobs/{key}/tags").status_code == 200
    cancels = orjson.dumps([{"key": key} for key in rng.sample(keys, 5)])
    assert api.generic("POST", "/jobq/53/cancel", cancels, content_type="").status_code == 200
    post_lines(api, "/jobq/53/update", [{"key": "53/2", "state": "deleted"}])


def matches(job, query):
    """Whether a job (a row of the jobs table) matches a /count query: the
    contract's filters, worked out in Python."""
    spider, state, tags, ts, reason = job
    if query.get("spider") and spider not in query["spider"]:
        return False
    if state not in (query.get("state") or ["finished"]):
        return False
    if query.get("has_tag") and not set(tags) & set(query["has_tag"]):
        return False
    if set(tags) & set(query.get("lacks_tag") or ()):
        return False
    if "startts" in query and ts < query["startts"]:
        return False
    if "endts" in query and ts >= query["endts"]:
        return False
    return not query.get("outcome") or (state == "finished" and badge_of(state, reason) in query["outcome"])


def test_every_count_agrees_with_the_jobs_on_random_data(api, project):
    rng = random.Random(12)
    random_jobs(api, rng)
    assert_counts_exact()
    jobs = list(Job.objects.values_list("spider__name", "state", "tags", "ts", "close_reason"))
    assert len({job[1] for job in jobs}) == 4
    windows = [
        {},
        {"startts": DAY0 + DAY + 3_600_000},
        {"endts": DAY0 + 2 * DAY + 1},
        {"startts": DAY0 - 5, "endts": DAY0 + 3 * DAY - 5},  # cuts days at both ends
        {"startts": DAY0, "endts": DAY0 + 2 * DAY},  # whole days only
        {"startts": DAY0 + 3_600_000, "endts": DAY0 + 7_200_000},  # inside one day
        {"startts": DAY0 + DAY, "endts": DAY0 + DAY},  # empty
        {"outcome": ["failed", "other"]},
        {"outcome": ["finished"], "startts": DAY0 + 10, "endts": DAY0 + 3 * DAY},
    ]
    tag_filters = [
        {},
        {"has_tag": ["a"]},
        {"lacks_tag": ["b"]},
        {"has_tag": ["a", "c"]},
        {"lacks_tag": ["a", "c"]},
        {"has_tag": ["a"], "lacks_tag": ["b"]},
        {"has_tag": ["zzz"]},
    ]
    spiders = [{}, {"spider": ["s2"]}, {"spider": ["s3"]}]
    states = [{}, {"state": ["pending"]}, {"state": ["running", "deleted"]}, {"state": STATES}]
    checked = 0
    for window, tags, spider, state in itertools.product(windows, tag_filters, spiders, states):
        query = {**window, **tags, **spider, **state}
        expected = sum(1 for job in jobs if matches(job, query))
        assert count(api, "?" + urlencode(query, doseq=True)) == expected, query
        checked += 1
    assert checked == 756


def test_a_window_reads_each_partial_day_on_its_own(api, tagged, django_assert_num_queries):
    api.get("/jobq/53/count")  # records the key's last use
    # the key with its project, the daily figures, then each partial day: one
    # OR of both made PostgreSQL walk the whole window's index range
    with django_assert_num_queries(4) as captured:
        count(api, f"?startts={DAY0 - 1}&endts={DAY0 + 2 * DAY + 1}")
    scans = [q["sql"] for q in captured.captured_queries if '"jobs_job"' in q["sql"]]
    assert len(scans) == 2 and " OR " not in scans[0] + scans[1]
    assert str(DAY0) in scans[0] and str(DAY0 + 2 * DAY) in scans[1]


@pytest.mark.parametrize(
    ("query", "queries"),
    [
        ("?has_tag=tagA", 2),  # the key with its project, the tag counters
        ("?lacks_tag=tagA&state=finished&spider=books", 3),  # + the state counters
        (f"?startts={DAY0}&endts={DAY0 + 2 * DAY}", 2),  # whole days: the daily figures
        (f"?startts={DAY0 - 1}&endts={DAY0 + 2 * DAY}", 3),  # + the jobs of the partial day
    ],
)
def test_counts_from_counters_do_not_scan_jobs(api, tagged, django_assert_num_queries, query, queries):
    api.get("/jobq/53/count")  # records the key's last use
    with django_assert_num_queries(queries) as captured:
        count(api, query)
    scans = [q["sql"] for q in captured.captured_queries if '"jobs_job"' in q["sql"]]
    if "startts" in query and queries == 3:
        # Only the minute before the window's first whole day is read from the jobs.
        assert len(scans) == 1 and str(DAY0) in scans[0]
    else:
        assert not scans


def prepared_statements():
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_only_the_fixed_sql_is_prepared(api, tagged):
    assert count(api, "?has_tag=tagA") == 1
    assert count(api, "?has_tag=tagB&spider=books&state=finished") == 1
    assert api.get("/jobq/53/list?has_tag=tagA").status_code == 200
    prepared = prepared_statements()
    # The key lookup and the counters, once per connection (jobs/fixedsql.py) ...
    assert any('FROM "jobs_apikey" k' in statement for statement in prepared)
    assert any('FROM "jobs_tagcount" c' in statement for statement in prepared)
    # ... but not the jobs' own queries: a plan for a common tag is not one for a rare tag.
    assert not any('"jobs_job"' in statement for statement in prepared)
    assert count(api, "?has_tag=tagA") == 1
    assert prepared_statements() == prepared


def test_the_query_log_shows_the_fixed_sql_with_its_values(api, tagged):
    with CaptureQueriesContext(connection) as captured:
        assert count(api, "?has_tag=tagA") == 1
    logged = [query["sql"] for query in captured.captured_queries]
    (counters,) = [sql for sql in logged if "jobs_tagcount" in sql]
    assert "c.tag = 'tagA'" in counters
    assert any('FROM "jobs_apikey" k' in sql for sql in logged), logged
    assert not any(sql.startswith("QUERY =") for sql in logged), logged

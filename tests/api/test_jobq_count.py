"""GET /jobq/<project>/count"""

import pytest

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
    # key, project access, the counters' sum
    with django_assert_num_queries(3) as captured:
        assert count(api, "?state=finished&spider=books") == 2
    assert not any(
        '"jobs_job"' in q["sql"] and "COUNT" in q["sql"].upper() for q in captured.captured_queries
    )


def test_tag_count_queries(api, tagged, django_assert_num_queries):
    api.get("/jobq/53/count")
    # key, project access, count(*) with the tag filter
    with django_assert_num_queries(3):
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

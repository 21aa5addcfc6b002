"""Odd but valid inputs: never a 500, on either database."""

import pytest

from ..factories import add_jobs, job_line

BIG = 2**63 - 1


@pytest.mark.parametrize(
    "query",
    [
        f"count={BIG}",
        f"start={BIG}",
        f"count={BIG}&start={BIG}",
        f"startts={BIG}&endts=-{BIG + 1}",
        f"startts=-{BIG + 1}",
        "state=&spider=&has_tag=&lacks_tag=&jobmeta=&key=&stop=&count=&start=&startts=&endts=",
        "has_tag=%27%3B%20drop%20table%20jobs_job%3B--&lacks_tag=%22%5D%7B",
        "jobmeta=" + "&jobmeta=".join(f"f{i}" for i in range(200)),
        "has_tag=" + "&has_tag=".join(f"t{i}" for i in range(500)),
        "key=" + "&key=".join(f"53/1/{i}" for i in range(1, 500)),
        "stop=53/1/1&start=1000&count=5",
        "spider=%E2%9C%93&state=deleted",
    ],
)
@pytest.mark.parametrize("route", ["list", "count"])
def test_never_a_500(api, project, query, route):
    add_jobs(*[job_line(tags=["t1"]) for _ in range(3)])
    response = api.get(f"/jobq/53/{route}?{query}")
    assert response.status_code == 200, response.content
    if response.streaming:
        b"".join(response.streaming_content)


@pytest.mark.parametrize("route", ["summary", "summary/finished", "1/summary/running"])
def test_summary_with_extreme_windows(api, project, route):
    add_jobs(job_line())
    response = api.get(f"/jobq/53/{route}?count=1000&start={BIG}")
    assert response.status_code == 200

"""scripts/bench.py (make bench) still runs: a tiny project, one run per case.
It prints figures; this test checks the table and the counters, never times."""

import importlib.util
from pathlib import Path

import pytest
from django.db.models import Count

from jobs.models import ApiKey, Job, JobCount


@pytest.fixture
def bench():
    path = Path(__file__).resolve().parents[2] / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_bench_generates_exact_counters_and_prints_every_case(bench, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["bench.py", "--jobs", "3000", "--repeat", "1", "--stream", "500"])
    bench.main()
    out = capsys.readouterr().out
    assert "3,000 jobs in project 999000" in out
    for case in (
        "list: no filter",
        "list: has_tag=rare",
        "list: start=50000",
        "count: has_tag=prod",
        "list: stream 500 lines",
    ):
        assert case in out
    exact = {
        (row["spider_id"], row["state"]): row["n"]
        for row in Job.objects.filter(project_id=999000).values("spider_id", "state").annotate(n=Count("id"))
    }
    counters = {(c.spider_id, c.state): c.n for c in JobCount.objects.filter(project_id=999000) if c.n}
    assert counters == exact and sum(exact.values()) == 3000
    assert not ApiKey.objects.filter(name="bench").exists()  # its key is removed afterwards

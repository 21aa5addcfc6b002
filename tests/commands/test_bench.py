"""scripts/bench.py (make bench) still runs end to end on a tiny project:
set-based generation, the production server, the raw psycopg replay, one
table. It prints figures; this test checks the table and the data, never
times."""

import importlib.util
import re
import socket
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from jobs.models import ApiKey, Job, JobCount, Spider

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmark compares jobq with raw psycopg on PostgreSQL"
)


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("bench", SCRIPTS / "bench.py")
    module = importlib.util.module_from_spec(spec)
    # Its load-generating processes find their function by the module's name.
    monkeypatch.setitem(sys.modules, "bench", module)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_data", None)


@pytest.mark.django_db(transaction=True)
def test_bench_generates_the_project_and_prints_one_table(bench, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [
        "--port",
        str(port),
        "--jobs",
        "3000",
        "--repeat",
        "1",
        "--seconds",
        "0.2",
        "--stream",
        "700",
        "--import-jobs",
        "50",
    ]
    bench.main([*argv, "--only", "list", "--only", "stream", "--only", "pages", "--only", "import"])
    out = capsys.readouterr().out
    assert "3,000 jobs in project 900003000" in out
    assert re.search(
        r"CPU check \(lower is faster\): [\d.]+ ms at the start, [\d.]+ ms after list, "
        r"[\d.]+ ms after stream, [\d.]+ ms after pages, [\d.]+ ms after import$",
        out,
        re.MULTILINE,
    )
    for measure in (
        "list-100: no filter",
        "list-100: has_tag=rare",
        "count: has_tag=prod",
        "list-100 throughput, 4 clients",
        "stream 700 lines: rows/s",
        "dashboard: keyset page 30",
        "dashboard: its counts (live refresh)",
        "admin changelist: state=finished",
        "admin changelist: page 15",
        "import_jobs, 50 jobs",
    ):
        assert measure in out
    # import_jobs beside raw psycopg loading the same lines, as a ratio;
    # then the same without the command's start.
    for measure in (r"import_jobs, 50 jobs", r"import_jobs, less its start \([\d.]+ s\)"):
        row = rf"^\| {measure} +\| [\d,]+ jobs/s +\| +\| [\d,]+ jobs/s +\| [\d.]+ +\|$"
        assert re.search(row, out, re.MULTILINE), measure
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == len(set(table)) >= 25  # one table, one line per measure
    project = 900_003_000
    assert Spider.objects.filter(project_id=project).count() == 50
    exact = {
        (row["spider_id"], row["state"]): row["n"]
        for row in Job.objects.filter(project_id=project).values("spider_id", "state").annotate(n=Count("id"))
    }
    counters = {(c.spider_id, c.state): c.n for c in JobCount.objects.filter(project_id=project)}
    assert counters == exact and sum(exact.values()) == 3000
    assert set(Job.objects.filter(project_id=project).values_list("state", flat=True)) == {
        "pending", "running", "finished", "deleted"
    }  # fmt: skip
    assert not Job.objects.filter(
        project_id=project - 900_003_000 + 899_999_999
    ).exists()  # both imports cleaned up
    assert not ApiKey.objects.filter(name="bench").exists()  # its key is removed afterwards

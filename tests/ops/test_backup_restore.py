"""Backups as docs/operations.md describes them, restored into an empty
database: every job, tag, counter, spider, project and key comes back
identical. PostgreSQL with pg_dump and pg_restore; SQLite with the sqlite3
shell's online `.backup`, taken while a server is running and writing."""

import shutil
import sqlite3
import subprocess

import orjson
import psycopg
import pytest
import requests
from django.db import connection

from jobs.lifecycle import add_tags, remove_tags
from jobs.models import Job

from ..factories import add_jobs, job_line, make_key, make_project
from .servers import clean_environment, local_environment, manage, new_key, prepare_var_dir, require

# Every table of the job store, in an order that compares rows one to one.
TABLES = {
    "jobs_project": "id",
    "jobs_spider": "id",
    "jobs_job": "id",
    "jobs_jobcount": "project_id, spider_id, state",
    "jobs_tagcount": "project_id, tag, spider_id, state",
    "jobs_daycount": "project_id, spider_id, state, outcome, day",
    "jobs_tag": "id",
    "jobs_apikey": "id",
    "jobs_apikey_projects": "id",
}


def rows_of(execute):
    return {table: execute(f"SELECT * FROM {table} ORDER BY {order}") for table, order in TABLES.items()}


def postgres_url(settings_dict, name):
    host, port, user = (
        settings_dict["HOST"] or "127.0.0.1",
        settings_dict["PORT"] or 5432,
        settings_dict["USER"],
    )
    return f"postgres://{user}@{host}:{port}/{name}"


def read_postgres(url):
    """Both databases read the same way (Django's own cursor leaves JSON undecoded)."""
    with psycopg.connect(url) as database:
        return rows_of(lambda sql: database.execute(sql).fetchall())


def run(*command):
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_dump backs up PostgreSQL; this run is on SQLite"
)
@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_restores_every_job_tag_and_counter(tmp_path):
    require(
        shutil.which("pg_dump") and shutil.which("pg_restore"), "pg_dump and pg_restore are not installed"
    )
    project = make_project(53, "books")
    make_key(project)
    add_jobs(
        *[
            job_line(number=n, state=("finished", "deleted", "pending")[n % 3], tags=[f"t{n % 4}"])
            for n in range(1, 60)
        ],
        job_line(
            project_id=54, spider="other", number=1, state="running", scrapystats={"item_scraped_count": 7}
        ),
    )
    add_tags(Job.objects.filter(key="53/1/1"), ["added-later"])
    remove_tags(Job.objects.filter(key="53/1/1"), ["added-later"])  # a tag no job has any more
    source = connection.settings_dict["NAME"]
    restored = f"{source}_restored"
    dump = tmp_path / "jobq.dump"

    # The commands of docs/operations.md, with this database's address.
    settings_dict = connection.settings_dict
    where = [
        "-h",
        settings_dict["HOST"] or "127.0.0.1",
        "-p",
        str(settings_dict["PORT"] or 5432),
        "-U",
        settings_dict["USER"],
    ]
    run("pg_dump", *where, "-Fc", "-f", str(dump), source)
    run("dropdb", *where, "--if-exists", restored)
    run("createdb", *where, restored)
    try:
        run("pg_restore", *where, "--no-owner", "-d", restored, str(dump))
        migrations = manage(
            clean_environment(
                JOBQ_LOCAL="1", JOBQ_VAR_DIR=str(tmp_path), DATABASE_URL=postgres_url(settings_dict, restored)
            ),
            "showmigrations",
            "jobs",
        ).stdout
        after = read_postgres(postgres_url(settings_dict, restored))
    finally:
        run("dropdb", *where, restored)

    before = read_postgres(postgres_url(settings_dict, source))
    assert "[ ]" not in migrations and "[X] 0005_project_retention" in migrations
    assert after == before
    assert len(before["jobs_job"]) == 60 and len(before["jobs_tag"]) == 5


def test_an_online_sqlite_backup_restores_every_job_tag_and_counter(tmp_path, migrated_sqlite, servers):
    require(shutil.which("sqlite3"), "the sqlite3 shell is not installed (Debian: apt-get install sqlite3)")
    var = prepare_var_dir(migrated_sqlite, tmp_path / "var")
    env = local_environment(var)
    key = new_key(env, 53)
    lines = [
        job_line(number=n, state=("finished", "deleted", "running")[n % 3], tags=[f"t{n % 5}"])
        for n in range(1, 200)
    ]
    manage(env, "import_jobs", "-", stdin="\n".join(orjson.dumps(line).decode() for line in lines))
    server = servers(env, tmp_path / "server.log")
    # Writes through the API, while the server runs: the backup is taken online.
    for _ in range(6):
        assert requests.post(
            f"{server.url}/jobq/53/push", data=b'{"spider": "new", "tags": ["fresh"]}', auth=(key, "")
        ).ok
    assert requests.post(f"{server.url}/jobq/53/startjob", data=b"{}", auth=(key, "")).ok

    # The commands of docs/operations.md: the backup, taken while the server runs...
    backup = var / "backup-2026-11-30.sqlite3"
    run("sqlite3", str(var / "db.sqlite3"), ".timeout 20000", f".backup {backup}")
    checked = run("sqlite3", str(backup), "PRAGMA integrity_check; SELECT count(*) FROM jobs_job;").stdout
    assert checked.split() == ["ok", "205"]

    # ... and the restore, with the server stopped.
    server.stop(quick=True)
    run("bash", "-c", f"cd {var.parent} && mkdir -p var/replaced && mv var/db.sqlite3* var/replaced/")
    run("cp", str(backup), str(var / "db.sqlite3"))

    def read(path):
        with sqlite3.connect(path) as db:
            return rows_of(lambda sql: db.execute(sql).fetchall())

    before, after = read(var / "replaced" / "db.sqlite3"), read(var / "db.sqlite3")
    assert after == before
    assert len(before["jobs_job"]) == 205
    assert {row[1] for row in before["jobs_tag"]} == {"t0", "t1", "t2", "t3", "t4", "fresh"}
    # The restored database serves.
    restarted = servers(env, tmp_path / "restarted.log")
    assert requests.get(f"{restarted.url}/jobq/53/count?state=pending", auth=(key, "")).json() == 5

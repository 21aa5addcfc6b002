"""DATABASE_REPLICA_URL against a real PostgreSQL streaming replica that the
test starts itself: a primary made by initdb and a replica made by
pg_basebackup from it, in a temporary directory, with this machine's
PostgreSQL binaries; jobq's production server in front of both.

Replay on the replica is paused during the checks, so a read served by the
replica cannot see a write made meanwhile: that is how each read shows which
database answered it. GET requests of the API and the pages read from the
replica; writes go to the primary; the session that wrote (an API key, with
or without cookies; a browser session) reads from the primary right after.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests

from .servers import Server, free_port, local_environment, manage, new_key, prepare_var_dir, require
from .test_shared_limits import REDIS_URL, redis_reachable


def postgres_bin():
    """The newest of this machine's PostgreSQL server binaries, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_postgres_user():
    """initdb refuses to run as root: run the cluster as `postgres` then."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        return None, None
    return ["runuser", "-u", "postgres", "--"], user


class Cluster:
    def __init__(self, bin_dir, prefix, directory, name):
        self.bin, self.prefix = bin_dir, prefix
        self.data = directory / name
        self.log = directory / f"{name}.log"
        self.port = free_port()

    def run(self, program, *args):
        done = subprocess.run([*self.prefix, str(self.bin / program), *args], capture_output=True, text=True)
        assert done.returncode == 0, f"{program}: {done.stderr}"

    def configure(self, **settings):
        with open(self.data / "postgresql.conf", "a") as conf:
            for name, value in settings.items():
                conf.write(f"{name} = {value}\n")

    def start(self):
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self):
        subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
        )

    def connect(self, dbname="jobq"):
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True
        )

    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/jobq"


@pytest.fixture(scope="module")
def primary_and_replica():
    bin_dir = postgres_bin()
    require(
        bin_dir is not None, "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
    )
    prefix, user = as_postgres_user()
    require(prefix is not None, "running as root, and there is no postgres user to run initdb as")
    directory = Path(tempfile.mkdtemp(prefix="jobq-replica-"))
    directory.chmod(0o755)
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
    primary = Cluster(bin_dir, prefix, directory, "primary")
    replica = Cluster(bin_dir, prefix, directory, "replica")
    try:
        primary.run(
            "initdb",
            "-D",
            str(primary.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        quick = {"fsync": "off", "full_page_writes": "off", "shared_buffers": "'32MB'"}
        primary.configure(
            port=primary.port,
            listen_addresses="'127.0.0.1'",
            unix_socket_directories=f"'{directory}'",
            **quick,
        )
        primary.start()
        with primary.connect("postgres") as connection:
            connection.execute("CREATE DATABASE jobq")
        # The command of docs/operations.md (--no-sync: a test's data need not reach the disk).
        primary.run(
            "pg_basebackup", "--host=127.0.0.1", f"--port={primary.port}", "--username=postgres",
            f"--pgdata={replica.data}", "--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast",
            "--no-sync",
        )  # fmt: skip
        replica.configure(port=replica.port)
        replica.start()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(directory, ignore_errors=True)


def caught_up(primary, replica):
    """Wait until the replica has replayed everything the primary wrote."""
    with primary.connect() as connection:
        lsn = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with replica.connect() as connection:
        for _ in range(600):
            if connection.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the replica did not catch up")


def replay(replica, *, paused):
    with replica.connect() as connection:
        connection.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")


@pytest.fixture(scope="module")
def site(primary_and_replica, tmp_path_factory, migrated_sqlite, collected_static):
    """jobq on the primary and the replica: keys, a staff user, 20 finished jobs."""
    require(redis_reachable(), f"no Redis at {REDIS_URL}")
    primary, replica = primary_and_replica
    directory = tmp_path_factory.mktemp("replica-site")
    var = prepare_var_dir(migrated_sqlite, directory / "var")
    env = local_environment(
        var,
        DATABASE_URL=primary.url(),
        DATABASE_REPLICA_URL=replica.url(),
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=f"jobq-test-{uuid.uuid4().hex}",
        DATABASE_REPLICA_PIN_SECONDS="3600",
        STATIC_ROOT=str(collected_static),
        METRICS_TOKEN="m" * 20,
    )
    manage(env, "migrate", "--no-input", "-v", "0")
    writer, reader = new_key(env, 53), new_key(env, 53)
    manage(
        {**env, "DJANGO_SUPERUSER_PASSWORD": "right-password-7"},
        "createsuperuser", "--no-input", "--username", "staff", "--email", "staff@example.com",
    )  # fmt: skip
    lines = [
        f'{{"key": "53/1/{n}", "spider": "books", "state": "finished", "finished_time": {1_700_000_000_000 + n}}}'
        for n in range(1, 1501)
    ]
    manage(env, "import_jobs", "-", stdin="\n".join(lines))
    server = Server(env, directory / "server.log").start()
    caught_up(primary, replica)
    yield server, writer, reader
    server.stop(quick=True)


def metric(server, name):
    text = requests.get(f"{server.url}/metrics", headers={"Authorization": "Bearer " + "m" * 20}).text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def test_api_reads_go_to_the_replica_and_a_keys_own_writes_read_from_the_primary(site, primary_and_replica):
    server, writer, reader = site
    primary, replica = primary_and_replica
    assert requests.get(f"{server.url}/healthz").json()["checks"]["replica"] == "ok"
    replay(replica, paused=True)
    try:
        # Each request on a connection of its own: no cookie carries anything.
        pushed = requests.post(f"{server.url}/jobq/53/push", data=b'{"spider": "books"}', auth=(writer, ""))
        assert pushed.status_code == 200  # the write went to the primary
        key = pushed.json()["key"]

        # Another key reads from the replica, which has not replayed the push.
        assert requests.get(f"{server.url}/jobq/53/count?state=pending", auth=(reader, "")).json() == 0
        assert requests.get(f"{server.url}/jobs/{key}", auth=(reader, "")).status_code == 404
        streamed = requests.get(f"{server.url}/jobq/53/list?count=5000", auth=(reader, ""))
        assert len(streamed.content.splitlines()) == 1500  # a stream, from the replica
        assert metric(server, "jobq_replica_lag_seconds") > 0

        # The key that wrote reads its write, without cookies, through the shared cache.
        assert requests.get(f"{server.url}/jobq/53/count?state=pending", auth=(writer, "")).json() == 1
        assert requests.get(f"{server.url}/jobs/{key}", auth=(writer, "")).json()["state"] == "pending"
        pending = requests.get(f"{server.url}/jobq/53/list?state=pending", auth=(writer, "")).text
        assert key in pending
    finally:
        replay(replica, paused=False)
    caught_up(primary, replica)
    assert requests.get(f"{server.url}/jobq/53/count?state=pending", auth=(reader, "")).json() == 1
    assert metric(server, "jobq_replica_lag_seconds") == 0


def browser(server):
    session = requests.Session()
    session.get(f"{server.url}/login/")
    answer = session.post(
        f"{server.url}/login/",
        data={
            "username": "staff",
            "password": "right-password-7",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
    )
    assert answer.status_code == 302
    return session


def test_pages_read_from_the_replica_and_a_session_sees_its_own_writes(site, primary_and_replica):
    server, _, _ = site
    primary, replica = primary_and_replica
    writer, reader = browser(server), browser(server)
    caught_up(primary, replica)  # both sessions are on the replica too
    # The reader's login pinned it to the primary for a while: as if that had passed.
    del reader.cookies["jobq_primary"]
    page = f"{server.url}/p/53/job/1/7/"
    replay(replica, paused=True)
    try:
        tagged = writer.post(
            f"{page}tags/",
            data={
                "tag": "seen-on-primary",
                "action": "add",
                "csrfmiddlewaretoken": writer.cookies["csrftoken"],
            },
        )
        assert tagged.status_code == 200  # redirected to the job's page, read from the primary
        assert "seen-on-primary" in tagged.text
        assert "seen-on-primary" in writer.get(page).text
        assert "seen-on-primary" not in reader.get(page).text  # the replica has not replayed it
        # A write by the reader goes to the primary too, and pins it there.
        tagged = reader.post(
            f"{page}tags/",
            data={"tag": "second", "action": "add", "csrfmiddlewaretoken": reader.cookies["csrftoken"]},
        )
        assert tagged.status_code == 200
        assert "seen-on-primary" in tagged.text and "second" in tagged.text
    finally:
        replay(replica, paused=False)

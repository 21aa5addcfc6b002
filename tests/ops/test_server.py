"""The production server as make run starts it (gunicorn, jobqsite/gunicorn.conf.py,
DEBUG off): no development server, static files from collectstatic served
compressed and cached for good, and restarts that let a running stream end."""

import re
import signal

import orjson
import pytest
import requests

from .servers import Server, local_environment, manage, new_key, prepare_var_dir

LINES = 3000


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory, migrated_sqlite, collected_static):
    directory = tmp_path_factory.mktemp("plain")
    var = prepare_var_dir(migrated_sqlite, directory / "var")
    server = Server(
        local_environment(var, STATIC_ROOT=str(collected_static), DEBUG="0"), directory / "server.log"
    )
    yield server.start()
    server.stop(quick=True)


@pytest.fixture
def server(tmp_path, migrated_sqlite, servers):
    var = prepare_var_dir(migrated_sqlite, tmp_path / "var")
    env = local_environment(var, DEBUG="0")
    key = new_key(env, 53)
    # 4 KB of metadata each: a stream of them outlasts the sockets' buffers.
    jobs = (
        {
            "key": f"53/1/{n}",
            "spider": "books",
            "state": "finished",
            "finished_time": 1_700_000_000_000 + n,
            "note": "x" * 4096,
        }
        for n in range(1, LINES + 1)
    )
    manage(env, "import_jobs", "-", stdin="\n".join(orjson.dumps(job).decode() for job in jobs))
    return servers(env, tmp_path / "server.log"), key


def test_no_development_server_and_no_debug_pages(plain_server):
    server = plain_server
    response = requests.head(f"{server.url}/login/")
    assert response.status_code == 200
    assert response.headers["Server"] == "gunicorn"
    missing = requests.get(f"{server.url}/no-such-page/")
    assert missing.status_code == 404
    assert "URLconf" not in missing.text and "DEBUG = True" not in missing.text


def test_static_files_are_hashed_compressed_and_cached(plain_server):
    server = plain_server
    page = requests.get(f"{server.url}/login/").text
    stylesheet = re.search(r'href="(/static/jobq/jobq\.[0-9a-f]{12}\.css)"', page).group(1)
    response = requests.get(server.url + stylesheet, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "immutable" in response.headers["Cache-Control"]


def stream_with(server, key, signal_number):
    """Start a stream, send the server a signal once the first bytes arrived, read the rest."""
    with requests.get(
        f"{server.url}/jobq/53/list", params={"count": LINES, "jobmeta": "note"}, auth=(key, ""), stream=True
    ) as response:
        chunks = response.iter_content(64 * 1024)
        body = next(chunks)
        server.process.send_signal(signal_number)
        body += b"".join(chunks)
    return body.splitlines()


def test_a_reload_then_a_stop_let_running_streams_finish(server):
    server, key = server
    lines = stream_with(server, key, signal.SIGHUP)
    assert len(lines) == LINES
    assert orjson.loads(lines[-1])["key"] == "53/1/1"
    # The new workers serve.
    assert requests.get(f"{server.url}/jobq/53/count", auth=(key, "")).json() == LINES
    assert server.process.poll() is None

    lines = stream_with(server, key, signal.SIGTERM)
    assert len(lines) == LINES
    assert server.process.wait(timeout=60) == 0

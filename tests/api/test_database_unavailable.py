"""A database that is down answers 503 with Retry-After (which JobQ clients
retry), never a 500: a real server process pointed at a closed port."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import sys; from wsgiref.simple_server import make_server; "
    "from jobqsite.wsgi import application; "
    "make_server('127.0.0.1', int(sys.argv[1]), application).serve_forever()"
)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server_without_database(tmp_path):
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"postgres://root@127.0.0.1:{free_port()}/gone",
        "JOBQ_VAR_DIR": str(tmp_path),
        "JOBQ_LOCAL": "1",
        "DJANGO_SETTINGS_MODULE": "jobqsite.settings",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_api_answers_503_with_retry_after(server_without_database):
    response = requests.get(server_without_database + "/jobq/53/count", auth=("k" * 32, ""))
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "unavailable"

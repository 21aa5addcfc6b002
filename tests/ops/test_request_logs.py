"""The logs of a real production server (gunicorn, two workers), captured
whole: one line per API request with method, route, status, duration,
project and the key's prefix, streams logged when their last byte is sent,
and never an API key (`?apikey=`, Basic credentials, a malformed request
line that gunicorn logs itself)."""

import base64
import re
import socket

import orjson
import pytest
import requests

from jobs.ops.redaction import redact

from .servers import local_environment, manage, new_key, prepare_var_dir

LINE = re.compile(r"INFO jobq\.requests: (.*)$")


def fields_of(line):
    """The key=value pairs of a request line (values may be quoted)."""
    return {name: value.strip('"') for name, value in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line)}


def request_lines(log):
    return [fields_of(match.group(1)) for line in log.splitlines() if (match := LINE.search(line))]


@pytest.fixture
def logged_server(tmp_path, migrated_sqlite, servers):
    var = prepare_var_dir(migrated_sqlite, tmp_path / "var")
    env = local_environment(var, LOG_LEVEL="INFO")
    key = new_key(env, 53)
    # 4 KB of metadata each: a list of them is more than the sockets buffer.
    jobs = [
        {
            "key": f"53/1/{n}",
            "spider": "books",
            "state": "finished",
            "finished_time": 1_700_000_000_000 + n,
            "note": "x" * 4096,
        }
        for n in range(1, 3001)
    ]
    manage(env, "import_jobs", "-", stdin="\n".join(orjson.dumps(job).decode() for job in jobs))
    return servers(env, tmp_path / "server.log", workers=2), key


def test_each_api_request_logs_one_line_and_no_key(logged_server):
    server, key = logged_server
    session = requests.Session()
    answers = [
        session.get(f"{server.url}/jobq/53/count", params={"apikey": key}),
        session.get(f"{server.url}/jobq/53/count", auth=(key, "")),
        session.get(f"{server.url}/jobq/53/list", params={"apikey": key, "count": "x"}),
        session.get(f"{server.url}/jobq/54/count", auth=(key, "")),
        session.get(f"{server.url}/jobq/53/count", auth=(key, "a password too")),
        session.post(f"{server.url}/jobq/53/push", data=b'{"spider": "books"}', auth=(key, "")),
        session.get(f"{server.url}/nowhere", params={"apikey": key}),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 400, 404, 200, 200, 404]
    # A request line gunicorn cannot parse: it logs the line itself.
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(f"GET /jobq/53/count?apikey={key} HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert raw.recv(1024).startswith(b"HTTP/1.1 400")
    server.stop()  # everything written and flushed

    log = server.log()
    basic = base64.b64encode(f"{key}:".encode()).decode()
    assert key not in log
    assert basic[:20] not in log
    assert "Invalid request" in log and "apikey=[redacted]" in log

    lines = request_lines(log)
    api = [line for line in lines if line["path"].startswith("/jobq/")]
    assert len(api) == 6  # one each
    assert [(line["method"], line["route"], line["status"]) for line in api] == [
        ("GET", "jobq/<id:project_id>/count", "200"),
        ("GET", "jobq/<id:project_id>/count", "200"),
        ("GET", "jobq/<id:project_id>/list", "400"),
        ("GET", "jobq/<id:project_id>/count", "404"),
        ("GET", "jobq/<id:project_id>/count", "200"),
        ("POST", "jobq/<id:project_id>/push", "200"),
    ]
    for line in api:
        assert float(line["ms"]) >= 0
    assert [line["project"] for line in api] == ["53", "53", "53", "54", "53", "53"]
    # The key's prefix where the key was good (the 400 is a filter error, after authentication).
    assert [line.get("key") for line in api] == [key[:8]] * 6
    assert api[0]["query"] == "apikey=[redacted]"
    assert api[2]["query"] == "apikey=[redacted]&count=x"
    unmatched = [line for line in lines if line["path"] == "/nowhere"]
    assert unmatched == [
        {
            "method": "GET",
            "route": "unmatched",
            "status": "404",
            "ms": unmatched[0]["ms"],
            "path": "/nowhere",
            "query": "apikey=[redacted]",
            "bytes": unmatched[0]["bytes"],
        }
    ]


def test_a_stream_is_logged_when_its_last_line_is_sent(logged_server):
    server, key = logged_server
    response = requests.get(f"{server.url}/jobq/53/list", params={"count": 2500}, auth=(key, ""))
    assert len(response.content.splitlines()) == 2500
    server.stop()

    (line,) = [line for line in request_lines(server.log()) if line["route"] == "jobq/<id:project_id>/list"]
    assert line["status"] == "200"
    assert int(line["bytes"]) == len(response.content)
    assert "complete" not in line
    assert line["query"] == "count=2500"


def test_a_stream_the_client_leaves_is_logged_as_incomplete(logged_server):
    server, key = logged_server
    with requests.get(
        f"{server.url}/jobq/53/list", params={"count": 3000, "jobmeta": "note"}, auth=(key, ""), stream=True
    ) as response:
        next(response.iter_content(1024))
    server.stop()

    (line,) = [line for line in request_lines(server.log()) if line["route"] == "jobq/<id:project_id>/list"]
    assert line["status"] == "200"
    assert line["complete"] == "no"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /jobq/1/list?apikey=abc123&count=2", "GET /jobq/1/list?apikey=[redacted]&count=2"),
        ("/x?APIKEY=abc", "/x?APIKEY=[redacted]"),
        ("/x?apikey%3Dabc", "/x?apikey%3D[redacted]"),
        ("Authorization: Basic YWJjOg==", "Authorization: [redacted]"),
        ("{'HTTP_AUTHORIZATION': 'Basic YWJjOg=='}", "{'HTTP_AUTHORIZATION': '[redacted]'}"),
        ("Bearer s3cr3t-token", "Bearer [redacted]"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redaction(text, expected):
    assert redact(text) == expected

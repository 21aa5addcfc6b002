#!/usr/bin/env python
"""Compare production servers on the list, stream and page workloads: the
measurements behind docs/operations.md's choice of gunicorn with threads.

Prints figures, never asserts them. Each server runs jobq in production mode
against DATABASE_URL (a project made by scripts/bench.py); `wrk` (Debian:
wrk) loads it from this machine, `curl` times a stream. granian is not a
dependency of jobq: `.venv/bin/pip install granian` to include it.

    DATABASE_URL=postgres://…/jobq_bench .venv/bin/python scripts/bench_servers.py \\
        --key KEY --user bench --password PASSWORD --rounds 3
"""

import argparse
import base64
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def servers(port, workers, threads):
    bind = ["--bind", f"127.0.0.1:{port}"]
    return {
        "gunicorn gthread": [BIN / "gunicorn", "-c", "jobqsite/gunicorn.conf.py", *bind, "-w", workers, "--threads", threads],
        "granian wsgi": [
            BIN / "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", workers, "--blocking-threads", threads, "--no-ws", "jobqsite.wsgi:application",
        ],
        "gunicorn sync": [BIN / "gunicorn", "-c", "jobqsite/gunicorn.conf.py", *bind, "-k", "sync", "-w", str(2 * int(workers))],
    }  # fmt: skip


def wait_until_up(base):
    for _ in range(200):
        try:
            requests.get(base + "/healthz", timeout=30)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def session_cookie(base, user, password):
    session = requests.Session()
    session.get(base + "/login/", timeout=60)
    data = {"username": user, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    session.post(base + "/login/", data=data, timeout=60)
    return session.cookies["sessionid"]


def wrk(url, header, connections, seconds):
    """(requests/s, p50 ms, p99 ms, non-2xx answers)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", header, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(percent):
        value, unit = re.search(rf"{percent}%\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        ms(50),
        ms(99),
        int(errors.group(1)) if errors else 0,
    )


def stream(url, key):
    """(seconds to the first byte, seconds in all, lines) of one list stream."""
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-u",
            f"{key}:",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_starttransfer} %{time_total}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "200", out
    return float(out[1]), float(out[2])


def largest_worker_rss_mb(pid):
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    sizes = [
        int(Path(f"/proc/{child}/status").read_text().split("VmRSS:")[1].split()[0]) for child in children
    ]
    return max(sizes, default=0) // 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", required=True, help="an API key of the bench project")
    parser.add_argument("--project", type=int, default=900_200_000)
    parser.add_argument(
        "--user", required=True, help="a superuser (or a member of the project), for the pages"
    )
    parser.add_argument("--password", required=True)
    parser.add_argument("--server", action="append", help="only these (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--stream-lines", type=int, default=1_000_000)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--threads", default="8")
    parser.add_argument("--port", type=int, default=8421)
    args = parser.parse_args()

    base = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jobqsite.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    env.pop("JOBQ_LOCAL", None)  # production settings, as served for real
    auth = "Authorization: Basic " + base64.b64encode(f"{args.key}:".encode()).decode()
    commands = servers(args.port, args.workers, args.threads)
    chosen = args.server or list(commands)
    results = {name: {} for name in chosen}
    for round_number in range(1, args.rounds + 1):
        for name in chosen:  # interleaved, so that a busy moment does not favour one server
            log = open(f"/tmp/bench-{name.replace(' ', '-')}.log", "ab")  # noqa: SIM115 (closed below)
            process = subprocess.Popen(
                [str(part) for part in commands[name]],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_until_up(base)
                cookie = f"Cookie: sessionid={session_cookie(base, args.user, args.password)}"
                project = f"{base}/jobq/{args.project}"
                wrk(f"{project}/list?count=100", auth, 4, 2)  # warm up
                workloads = {
                    "list 100 (8 clients)": (f"{project}/list?count=100", auth, 8),
                    "count (8 clients)": (f"{project}/count?state=running", auth, 8),
                    "job list page (4 clients)": (f"{base}/p/{args.project}/", cookie, 4),
                    "job page (4 clients)": (f"{base}/p/{args.project}/job/1/1/", cookie, 4),
                }
                for workload, (url, header, clients) in workloads.items():
                    results[name].setdefault(workload, []).append(wrk(url, header, clients, args.seconds))
                first_byte, total = stream(f"{project}/list?count={args.stream_lines}", args.key)
                results[name].setdefault("stream", []).append(
                    (first_byte, total, largest_worker_rss_mb(process.pid))
                )
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                log.close()
            print(f"round {round_number}: {name} done", file=sys.stderr, flush=True)

    print(
        f"median of {args.rounds} rounds; {args.workers} processes (sync: twice as many), {args.threads} threads"
    )
    print(f"{'server':18} {'workload':26} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name in chosen:
        for workload, runs in results[name].items():
            if workload == "stream":
                continue
            column = list(zip(*runs, strict=True))
            rps, p50, p99 = (statistics.median(values) for values in column[:3])
            print(f"{name:18} {workload:26} {rps:8.0f} {p50:8.1f} {p99:8.1f} {sum(column[3]):8d}")
    print(
        f"\n{'server':18} stream of {args.stream_lines:,} lines: first byte, total, lines/s, largest worker RSS"
    )
    for name in chosen:
        first_byte, total, rss = (
            statistics.median(values) for values in zip(*results[name]["stream"], strict=True)
        )
        print(
            f"{name:18} {first_byte * 1000:6.0f} ms {total:6.1f} s {args.stream_lines / total:9,.0f} {rss:5.0f} MB"
        )


if __name__ == "__main__":
    main()

"""A separate process that hits a live jobq over HTTP, for tests/test_concurrency.py.

    python tests/http_worker.py <base url> <api key> start
    python tests/http_worker.py <base url> <api key> post <path> <count> <body>

It prints "ready", waits for a line on stdin (so that every worker begins at
once), then prints one JSON answer per line of each answer: the started
jobs, or what the posts answered. Only requests is imported: no Django in the workers.
"""

import sys

import requests


def main(url, apikey, mode, *args):
    session = requests.Session()
    session.auth = (apikey, "")
    print("ready", flush=True)
    sys.stdin.readline()
    if mode == "start":
        while True:
            response = session.post(f"{url}/jobq/53/startjob", data=b"{}")
            response.raise_for_status()
            if not response.content:
                break
            print(response.text.strip(), flush=True)
    elif mode == "post":
        path, count, body = args[0], int(args[1]), args[2].encode()
        for _ in range(count):
            response = session.post(f"{url}{path}", data=body)
            response.raise_for_status()
            if response.content.strip():
                print(response.text.strip(), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""A separate process that hits a live jobq over HTTP, for tests/test_concurrency.py.

    python tests/http_worker.py <base url> <api key> start
    python tests/http_worker.py <base url> <api key> push <count> <json line>

It prints "ready", waits for a line on stdin (so that every worker begins at
once), then prints one JSON answer per request: the started jobs, or the
push answers. Only requests is imported: no Django in the workers.
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
    elif mode == "push":
        count, line = int(args[0]), args[1].encode()
        for _ in range(count):
            response = session.post(f"{url}/jobq/53/push", data=line)
            response.raise_for_status()
            print(response.text.strip(), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(*sys.argv[1:])

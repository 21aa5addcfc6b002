"""The few JobQ calls the extension and the worker make, over the standard library.

urllib rather than requests: it adds no dependency and, unlike urllib3, logs
nothing, so a crawl's log (and the `log_count/*` stats that jobq stores) holds
only what the crawl itself logged.

Every call either returns the decoded answer or raises `Unavailable` (jobq
could not be reached or answered a status worth retrying) or `Refused` (jobq
answered that the request is wrong: retrying it would change nothing).
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from . import __version__

USER_AGENT = f"scrapy-jobq/{__version__}"
# Statuses that say "not now" rather than "not this": timeouts, throttling,
# an unavailable database, a proxy that lost jobq. jobq answers no other 5xx on
# purpose, so a 500 is a server fault that a later attempt may not meet.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class JobQError(Exception):
    """A call that did not succeed; the message says why in one sentence."""


class Unavailable(JobQError):
    """jobq could not be reached, timed out, or asked to come back later."""


class Refused(JobQError):
    """jobq refused the request (bad key, unknown project or job, bad data)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class JobQ:
    """One jobq project, reached with one API key.

    `url` is the site root (`https://jobq.example.com`); `timeout` bounds each
    network operation of a call, in seconds, unless the call gives its own.
    """

    def __init__(self, url: str, apikey: str, project: int, *, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.project = int(project)
        self.timeout = timeout
        token = base64.b64encode(f"{apikey}:".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}", "User-Agent": USER_AGENT}

    def __repr__(self) -> str:
        return f"JobQ({self.url!r}, project={self.project})"

    # --- the calls ------------------------------------------------------------

    def count(self, *, timeout: float | None = None, **params: Any) -> int:
        """GET /jobq/<project>/count: a cheap check that the key sees the project."""
        return int(
            json.loads(self._call("GET", f"/jobq/{self.project}/count", params=params, timeout=timeout))
        )

    def push(self, job: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """POST /jobq/<project>/push: the answer line, `{"key": …}` or, when an
        active job holds the same `unique`, `{"error": …, "request": …}`."""
        answer = self._call("POST", f"/jobq/{self.project}/push", body=_line(job), timeout=timeout)
        return _lines(answer)[0]

    def update(self, change: dict[str, Any], *, timeout: float | None = None) -> list[dict[str, Any]]:
        """POST /jobq/<project>/update with one line (`change` holds `key`):
        `[{"key", "prevstate"}]`, or `[]` when no job has that key."""
        return _lines(self._call("POST", f"/jobq/{self.project}/update", body=_line(change), timeout=timeout))

    def set_metadata(self, key: str, data: dict[str, Any], *, timeout: float | None = None) -> None:
        """POST /jobs/<key>: merge `data` into the job's metadata (Refused 404
        when there is no such job)."""
        body = json.dumps(data, separators=(",", ":")).encode()
        self._call("POST", f"/jobs/{key}", body=body, timeout=timeout, content_type="application/json")

    def get_field(self, key: str, field: str, *, timeout: float | None = None) -> Any:
        """GET /jobs/<key>/<field>: the field's value, None when the job lacks it."""
        return json.loads(self._call("GET", f"/jobs/{key}/{quote(field, safe='')}", timeout=timeout))

    def startjob(self, metadata: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any] | None:
        """POST /jobq/<project>/startjob: the oldest pending job, now running,
        with `metadata` saved on it; None when nothing is pending."""
        answer = self._call("POST", f"/jobq/{self.project}/startjob", body=_line(metadata), timeout=timeout)
        return json.loads(answer) if answer.strip() else None

    def jobsummary(
        self, keys: list[str], jobmeta: tuple[str, ...] = (), *, timeout: float | None = None
    ) -> dict[str, dict[str, Any]]:
        """GET /jobq/<project>/jobsummary: {key: line} for the keys that exist,
        each line with `state` and the `jobmeta` fields the job has."""
        if not keys:
            return {}
        params = {"key": keys, "jobmeta": ["state", *jobmeta]}
        lines = _lines(self._call("GET", f"/jobq/{self.project}/jobsummary", params=params, timeout=timeout))
        return {line["key"]: line for line in lines}

    def list(self, *, timeout: float | None = None, **params: Any) -> list[dict[str, Any]]:
        """GET /jobq/<project>/list with the JobQ filters as keyword arguments."""
        return _lines(self._call("GET", f"/jobq/{self.project}/list", params=params, timeout=timeout))

    # --- plumbing -------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
        content_type: str = "application/x-jsonlines",
    ) -> bytes:
        url = self.url + path
        if params:
            url += "?" + urlencode(params, doseq=True)
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            message = _error_message(exc)
            if exc.code in RETRYABLE_STATUSES:
                raise Unavailable(f"{method} {path} answered HTTP {exc.code}: {message}") from None
            raise Refused(exc.code, message) from None
        except urllib.error.URLError as exc:
            raise Unavailable(f"{self.url} is unreachable: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            # Timeouts, resets and truncated answers surface here, not as URLError.
            raise Unavailable(f"{self.url} failed: {exc.__class__.__name__}: {exc}") from None


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _error_message(exc: urllib.error.HTTPError) -> str:
    """jobq's `message` when the answer is its JSON error, else the raw text."""
    try:
        text = exc.read(2000).decode("utf-8", "replace")
    except OSError:
        return exc.reason if isinstance(exc.reason, str) else str(exc.code)
    try:
        return str(json.loads(text)["message"])
    except (ValueError, KeyError, TypeError):
        return text.strip() or str(exc.reason)

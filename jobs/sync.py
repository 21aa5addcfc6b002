"""Mirroring another JobQ: the work behind `sync_jobq`.

The source is any server that speaks the JobQ read API (Scrapy Cloud, or
another jobq), read through the official client, whose retry policy this
inherits (408, 429, 502, 503, 504, connection errors and timeouts).

Incremental, as the JobQ documentation recommends: for each state the
newest key copied is kept in a SyncCursor and the next run lists only what
is newer (`stop=`). A run walks the listing newest-first in pages bounded by
`endts` (a keyset on `ts`, which jobs leaving the state cannot shift, unlike
`start=` offsets) and writes each page in one transaction together with how
far it got, so an interruption leaves neither a gap nor a duplicate: the next
run finishes the interrupted pass first, then starts a new one from the top.
Writes go through the importer's upsert by key, so copying a job twice
changes nothing and a job that changed state moves between the counters.

Pending and running are small and change all the time: they are listed
whole on every run, and local jobs still in those states that the source no
longer lists there are looked up one by one, so a job that finished (or was
deleted) on the source never stays running here.

Metadata: a list line holds only summary fields, and JobQ has no way to ask
for "every field" of many jobs at once; custom fields must be named. So:
- `full` (the default) fetches each job's GET /jobs/<key> with a small
  thread pool: exact whatever the fields, but one request per job (about
  200 jobs/s against a local jobq, less across the internet);
- `list` takes the metadata from the list pages themselves, asking with
  `jobmeta=` for every standard field plus the custom fields named: 1000
  jobs per request (about 2500 jobs/s locally), exact when every custom
  field in use is named; custom fields not named are left as they are here.

What the JobQ idiom cannot see, this cannot either: a job whose metadata
changes without a change of state (its ts stays), or jobs imported on the
source with a ts older than the cursor.
"""

import builtins
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import urlsplit

import orjson
from django.db import transaction
from requests.exceptions import HTTPError
from scrapinghub.hubstorage import HubstorageClient

from .importing import ImportLineError, ImportSummary, ParsedJob, parse_line, write_batch
from .jobmeta import STANDARD_FIELDS
from .keys import JobKey, parse_job_key
from .models import Job, State, SyncCursor

PAGE_SIZE = 1000
DEFAULT_WORKERS = 4
# Listed whole on every run; the others incrementally with stop=.
RELISTED_STATES = (State.PENDING, State.RUNNING)
# The order of the passes: a job fetched later reflects a later state.
PASS_ORDER = (State.PENDING, State.RUNNING, State.FINISHED, State.DELETED)
# Metadata modes: every job's GET /jobs/<key> (exact), or the list lines
# with jobmeta= (standard fields plus the custom fields named).
FULL, LIST = "full", "list"
# The standard fields a list line carries with jobmeta=; key/ts/state come anyway.
LIST_JOBMETA = sorted(STANDARD_FIELDS - {"project", "state"})


class SyncError(Exception):
    """The source refused or failed in a way retrying does not fix."""


@dataclass
class StateSummary:
    listed: int = 0
    fetched: int = 0
    written: ImportSummary = field(default_factory=ImportSummary)
    stale: int = 0
    vanished: int = 0
    refused: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        w = self.written
        text = f"{self.listed} listed, "
        if self.fetched:
            text += f"{self.fetched} fetched, "
        text += f"{w.created} copied, {w.updated} updated, {w.unchanged} unchanged"
        if self.stale:
            text += f", {self.stale} older than here"
        if self.vanished:
            text += f", {self.vanished} gone from the source"
        if self.refused:
            shown = ", ".join(self.refused[:3]) + (" …" if len(self.refused) > 3 else "")
            text += f", {len(self.refused)} not storable here: {shown}"
        return text


@dataclass
class SyncSummary:
    states: dict[str, StateSummary] = field(default_factory=dict)

    def of(self, state: str) -> StateSummary:
        return self.states.setdefault(state, StateSummary())

    @property
    def listed(self) -> int:
        return sum(s.listed for s in self.states.values())

    @property
    def fetched(self) -> int:
        return sum(s.fetched for s in self.states.values())

    def count(self, name: str) -> int:
        return sum(getattr(s.written, name) for s in self.states.values())

    def __str__(self) -> str:
        parts = "; ".join(f"{state}: {summary}" for state, summary in self.states.items())
        return (
            f"{self.listed} jobs listed, {self.fetched} metadata fetched: "
            f"{self.count('created')} copied, {self.count('updated')} updated, "
            f"{self.count('unchanged')} unchanged ({parts})."
        )


class Source:
    """The source JobQ, read with the official client.

    The endpoint is passed explicitly for both the storage and the JobQ
    API, so SHUB_STORAGE/SHUB_JOBQ in the environment cannot redirect it.
    Requests sessions are not shared between threads: each worker thread
    gets its own client.
    """

    def __init__(
        self,
        url: str,
        apikey: str,
        project_id: int,
        *,
        max_retries: int | None = None,
        max_retry_time: float | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SyncError(f"{url!r} is not an http(s) URL")
        if parts.username or parts.password or parts.query:
            # The URL names the cursor in the database: no key may hide in it.
            raise SyncError(
                "the source URL must not carry credentials or a query; pass the key with --apikey"
            )
        self.url = url.rstrip("/") + "/"
        self.project_id = project_id
        self._options = {
            "auth": apikey,
            "endpoint": self.url,
            "jobq_endpoint": self.url,
            "use_msgpack": False,
            "max_retries": max_retries,
            "max_retry_time": max_retry_time,
        }
        self._local = threading.local()
        self._clients: list[HubstorageClient] = []

    def client(self) -> HubstorageClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = HubstorageClient(**self._options)
            self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.session.close()

    # Only a call with missing_ok can answer None (for a 404).
    @overload
    def _call[T](self, what: str, function: Callable[[], T]) -> T: ...
    @overload
    def _call[T](self, what: str, function: Callable[[], T], *, missing_ok: bool) -> T | None: ...
    def _call[T](self, what: str, function: Callable[[], T], *, missing_ok: bool = False) -> T | None:
        try:
            return function()
        except HTTPError as exc:
            response = exc.response
            if response is None:
                raise SyncError(f"{what}: {exc}") from None
            if missing_ok and response.status_code == 404:
                return None
            try:
                detail = response.json().get("message", "")
            except (ValueError, AttributeError):
                detail = response.text[:200]
            raise SyncError(f"{what}: {response.status_code} {detail}".strip()) from None

    def list(self, **params: object) -> builtins.list[dict[str, Any]]:
        """One page of /jobq/<project>/list, as a list of dicts."""
        params = {name: value for name, value in params.items() if value is not None}
        jobq = self.client().get_project(self.project_id).jobq
        return self._call(f"list {params}", lambda: list(jobq.list(**params)))

    def metadata(self, key: str) -> dict[str, Any] | None:
        """GET /jobs/<key>, or None when the job no longer exists."""
        job = self.client().get_job(key)
        # An empty answer is a job that is gone, as a 404 is.
        return self._call(f"metadata of {key}", lambda: dict(job.metadata), missing_ok=True) or None


def cursor_for(source_url: str, source_project: int, into_project: int, state: str) -> SyncCursor:
    return SyncCursor.objects.get_or_create(
        source_url=source_url.rstrip("/"),
        source_project=source_project,
        into_project=into_project,
        state=state,
    )[0]


def pages_down(
    source: Source,
    *,
    state: str,
    endts: int | None = None,
    stop: str | None = None,
    startts: int | None = None,
    page_size: int = PAGE_SIZE,
    jobmeta: list[str] | None = None,
) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Pages of list lines in `state`, newest first, from `endts` (exclusive)
    down to `stop` (exclusive) and `startts` (inclusive).

    Yields (lines, low_ts): once a page is handled, every job from the top
    down to low_ts (exclusive) has been yielded, so `endts=low_ts + 1`
    resumes without a gap. Pages are bounded by `endts` (a keyset), so a
    job leaving the state never shifts the next page as `start=` offsets
    would; the jobs of a page's lowest millisecond are listed again by the
    next page and skipped here. A full page all within one millisecond (a
    bulk import) is read whole by offset within that millisecond.
    A page shorter than asked ends the listing.
    """
    common = {"state": state, "stop": stop, "jobmeta": jobmeta}
    seen: set[str] = set()  # keys already yielded whose ts is the next page's top
    while True:
        lines = source.list(**common, startts=startts, endts=endts, count=page_size)
        if len(lines) == page_size and lines[0]["ts"] == lines[-1]["ts"]:
            moment = lines[0]["ts"]
            start = len(lines)
            while True:
                more = source.list(**common, startts=moment, endts=moment + 1, start=start, count=page_size)
                lines += more
                start += len(more)
                if len(more) < page_size:
                    break
            fresh = [line for line in lines if line["key"] not in seen]
            for start in range(0, len(fresh), page_size):
                yield fresh[start : start + page_size], moment
            seen, endts = set(), moment
            continue
        fresh = [line for line in lines if line["key"] not in seen]
        if not lines:
            return
        low = lines[-1]["ts"]
        yield fresh, low
        if len(lines) < page_size:
            return
        seen, endts = {line["key"] for line in lines if line["ts"] == low}, low + 1


_END = object()


def one_ahead[T](items: Iterator[T]) -> Iterator[T]:
    """Iterate `items` with the next one already being fetched in a thread:
    the source lists page n+1 while page n is written here, so a run takes
    about as long as the slower of the two rather than their sum. The
    iterator is only ever advanced by one thread at a time."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, items, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, items, _END)
            yield item  # type: ignore[misc]  # not _END here


class Mirror:
    """One run of copying a source project into a local project."""

    def __init__(
        self,
        source: Source,
        *,
        into: int,
        metadata: str = FULL,
        meta_fields: Iterable[str] = (),
        workers: int = DEFAULT_WORKERS,
        page_size: int = PAGE_SIZE,
        progress: Callable[[SyncSummary], object] | None = None,
    ) -> None:
        self.source = source
        self.into = into
        self.mode = metadata
        self.meta_fields = set(meta_fields)
        self.jobmeta = ["spider"] if metadata == FULL else LIST_JOBMETA + sorted(self.meta_fields)
        self.workers = workers
        self.page_size = page_size
        self.progress = progress
        self.summary = SyncSummary()
        self._pool = ThreadPoolExecutor(workers) if metadata == FULL and workers > 1 else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # --- keys ---

    def local_key(self, source_key: str) -> str:
        key = parse_job_key(source_key)
        return str(JobKey(self.into, key.spider_number, key.number))

    def source_key(self, local_key: str) -> str:
        key = parse_job_key(local_key)
        return str(JobKey(self.source.project_id, key.spider_number, key.number))

    # --- metadata ---

    def _fetch(self, keys: list[str]) -> list[dict[str, Any] | None]:
        if self._pool is None:
            return [self.source.metadata(key) for key in keys]
        return list(self._pool.map(self.source.metadata, keys))

    def complete(
        self, lines: list[dict[str, Any]], state_summary: StateSummary
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(list line, full metadata) of each job, without the ones gone since."""
        if self.mode == LIST:
            return [(line, self._from_list_line(line)) for line in lines]
        found = self._fetch([line["key"] for line in lines])
        state_summary.fetched += len(lines)
        state_summary.vanished += found.count(None)
        return [(line, meta) for line, meta in zip(lines, found, strict=True) if meta is not None]

    @staticmethod
    def _from_list_line(line: Mapping[str, Any]) -> dict[str, Any]:
        meta = {name: value for name, value in line.items() if name not in ("key", "ts", "elapsed")}
        meta.setdefault("tags", [])
        return meta

    def to_import_line(self, line: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
        """The importer's line for a job: its metadata with the local key and
        project, and its ts. When the job changed state between the list and
        the fetch, the time it entered the new state is its ts."""
        ts = line["ts"]
        if meta.get("state") != line["state"]:
            ts = meta.get(f"{meta.get('state')}_time", ts)
        return {**meta, "project": self.into, "key": self.local_key(line["key"]), "ts": ts}

    # --- writing ---

    def write(
        self,
        pairs: Iterable[tuple[dict[str, Any], dict[str, Any]]],
        state_summary: StateSummary,
        cursor: SyncCursor | None = None,
        cursor_fields: Iterable[str] = (),
    ) -> None:
        """Upsert the jobs and save the cursor in one transaction.

        The jobs already here are locked first (as the importer locks them),
        so what is compared with them (their ts, their custom fields) cannot
        change before they are written."""
        jobs = [self.to_import_line(line, meta) for line, meta in pairs]
        with transaction.atomic():
            local = {
                row["key"]: row
                for row in Job.objects.filter(key__in=[job["key"] for job in jobs])
                .order_by("pk")
                .select_for_update(no_key=True)
                .values("key", "ts", *(["meta"] if self.mode == LIST else []))
            }
            if self.mode == LIST:
                # The list answers only the custom fields it was asked for: keep
                # the others as they are here rather than erase them.
                for job in jobs:
                    for name, value in (local.get(job["key"], {}).get("meta") or {}).items():
                        if name not in self.meta_fields:
                            job.setdefault(name, value)
            # A job already here in a later state than the one fetched (two
            # passes raced with a change on the source) is never moved back.
            fresh = [job for job in jobs if job["key"] not in local or local[job["key"]]["ts"] <= job["ts"]]
            state_summary.stale += len(jobs) - len(fresh)
            parsed: list[ParsedJob] = []
            for number, job in enumerate(fresh, 1):
                try:
                    parsed.append(parse_line(orjson.dumps(job).decode(), number))
                except ImportLineError as exc:
                    # Metadata that jobq cannot store (a text over 255 characters,
                    # an integer beyond 64 bits…): skip the job, and say which.
                    state_summary.refused.append(f"{job['key']} ({exc.message})")
            if parsed:
                try:
                    write_batch(parsed, state_summary.written)
                except ImportLineError as exc:
                    key = parsed[exc.line_number - 1].key
                    raise SyncError(f"job {key} cannot be stored: {exc.message}") from None
            if cursor is not None:
                cursor.save(update_fields=[*cursor_fields, "updated_at"])
        if self.progress:
            self.progress(self.summary)

    # --- passes ---

    def sync_state(self, cursor: SyncCursor) -> None:
        state = cursor.state
        state_summary = self.summary.of(state)
        if state in RELISTED_STATES:
            self._relist(cursor, state_summary)
            return
        bound = self._bound(cursor)
        if cursor.pass_top_key:
            # _walk saves pass_low_ts with pass_top_key; mypy cannot know that.
            assert cursor.pass_low_ts is not None
            # Finish the pass an earlier run left half-way.
            self._walk(cursor, state_summary, endts=cursor.pass_low_ts + 1, **bound)
        self._walk(cursor, state_summary, **self._bound(cursor))

    def _bound(self, cursor: SyncCursor) -> dict[str, Any]:
        """stop= at the newest key copied, while that job is still where it
        was; startts= at its ts in any case, so a stop key that moved (the
        job was deleted since) never hides the jobs newer than the cursor."""
        if not cursor.newest_key:
            return {}
        bound: dict[str, Any] = {"startts": cursor.newest_ts}
        still = self.source.list(key=cursor.newest_key, state=cursor.state, jobmeta=["state"])
        if still and still[0]["ts"] == cursor.newest_ts:
            bound["stop"] = cursor.newest_key
        return bound

    def _walk(self, cursor: SyncCursor, state_summary: StateSummary, **bounds: Any) -> None:
        for lines, low in one_ahead(
            pages_down(
                self.source, state=cursor.state, page_size=self.page_size, jobmeta=self.jobmeta, **bounds
            )
        ):
            state_summary.listed += len(lines)
            if not cursor.pass_top_key and lines:
                cursor.pass_top_key, cursor.pass_top_ts = lines[0]["key"], lines[0]["ts"]
            cursor.pass_low_ts = low
            fields = ["pass_top_key", "pass_top_ts", "pass_low_ts"]
            self.write(self.complete(lines, state_summary), state_summary, cursor, fields)
        if cursor.pass_top_key:
            cursor.newest_key, cursor.newest_ts = cursor.pass_top_key, cursor.pass_top_ts
            cursor.pass_top_key, cursor.pass_top_ts, cursor.pass_low_ts = "", None, None
            cursor.save()

    def _relist(self, cursor: SyncCursor, state_summary: StateSummary) -> None:
        listed: set[str] = set()
        newest: dict[str, Any] | None = None
        for lines, _low in one_ahead(
            pages_down(self.source, state=cursor.state, page_size=self.page_size, jobmeta=self.jobmeta)
        ):
            state_summary.listed += len(lines)
            newest = newest or (lines[0] if lines else None)
            listed.update(self.local_key(line["key"]) for line in lines)
            self.write(self.complete(lines, state_summary), state_summary)
        # Jobs here still in this state that the source lists no more have
        # moved on there: bring their current metadata.
        # (Compared here, not with NOT IN: a queue can outgrow SQLite's
        # limit on query parameters.)
        here = Job.objects.filter(project_id=self.into, state=cursor.state).values_list("key", "ts")
        left_keys = [(key, ts) for key, ts in here.iterator(chunk_size=2000) if key not in listed]
        for start in range(0, len(left_keys), self.page_size):
            chunk = left_keys[start : start + self.page_size]
            found = self._fetch([self.source_key(key) for key, _ts in chunk])
            state_summary.fetched += len(chunk)
            state_summary.vanished += found.count(None)
            pairs = [
                ({"key": self.source_key(key), "ts": ts, "state": cursor.state}, meta)
                for (key, ts), meta in zip(chunk, found, strict=True)
                if meta is not None
            ]
            self.write(pairs, state_summary)
        if newest is not None:
            cursor.newest_key, cursor.newest_ts = newest["key"], newest["ts"]
            cursor.save()


def sync_project(
    *,
    source_url: str,
    apikey: str,
    project: int,
    into: int | None = None,
    states: Iterable[str] | None = None,
    metadata: str = FULL,
    meta_fields: Iterable[str] = (),
    workers: int = DEFAULT_WORKERS,
    page_size: int = PAGE_SIZE,
    max_retries: int | None = None,
    max_retry_time: float | None = None,
    reset: bool = False,
    progress: Callable[[SyncSummary], object] | None = None,
) -> SyncSummary:
    """Copy a source project's jobs into the local project `into` (default:
    the same id); returns a SyncSummary. See the module docstring.

    `reset` forgets where earlier runs got to, for the states asked, and
    walks their whole listing again (harmless: writes are upserts)."""
    into = project if into is None else into
    wanted = set(states or PASS_ORDER)
    source = Source(source_url, apikey, project, max_retries=max_retries, max_retry_time=max_retry_time)
    if reset:
        SyncCursor.objects.filter(
            source_url=source.url.rstrip("/"), source_project=project, into_project=into, state__in=wanted
        ).delete()
    mirror = Mirror(
        source,
        into=into,
        metadata=metadata,
        meta_fields=meta_fields,
        workers=workers,
        page_size=page_size,
        progress=progress,
    )
    try:
        for state in PASS_ORDER:
            if state in wanted:
                mirror.sync_state(cursor_for(source.url, project, into, state))
    finally:
        mirror.close()
        source.close()
    return mirror.summary


def progress_line(summary: SyncSummary) -> str:
    """One line of progress, for a terminal that rewrites it in place."""
    return (
        f"\r{summary.listed} listed, {summary.fetched} fetched, {summary.count('created')} copied, "
        f"{summary.count('updated')} updated…"
    )

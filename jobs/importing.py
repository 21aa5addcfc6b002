"""Loading jobs from JSON lines: the work behind `import_jobs`, also used by
the demo data and by mirroring another JobQ.

Each line is a job's metadata as GET /jobs/<key> answers it, plus its
`key` (and optionally `ts`). Jobs are upserted by key: loading the same
lines twice changes nothing. Lines are written in batches, one transaction
each; a bad line stops the import, and nothing of its batch is written.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from .counts import CountChanges
from .health import runs_imported
from .jobmeta import (
    METADATA_COLUMNS,
    TIME_FIELDS,
    MetadataError,
    clean_spider_name,
    clean_state,
    clean_time,
    loads_strict,
    split_metadata,
    summary_figures,
)
from .keys import JobKey, parse_job_key
from .lifecycle import remember_tags
from .models import Job, Project, Spider

BATCH_SIZE = 1000
# Columns an import writes (all but the identity, which a key fixes).
WRITTEN_COLUMNS = [
    column for column in METADATA_COLUMNS if column not in ("id", "key", "project_id", "spider_id")
]


class ImportLineError(ValueError):
    def __init__(self, line_number: int, message: str) -> None:
        super().__init__(f"line {line_number}: {message}")
        self.line_number = line_number
        self.message = message


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    projects: set[int] = field(default_factory=set)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return (
            f"{self.total} jobs read: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, in {len(self.projects)} project(s)."
        )


@dataclass
class ParsedJob:
    line_number: int
    key: JobKey
    spider_name: str
    columns: dict[str, Any]


def parse_line(text: str, line_number: int) -> ParsedJob:
    """A ParsedJob of one line, or ImportLineError naming what is wrong."""
    try:
        data = loads_strict(text)
    except ValueError as exc:
        raise ImportLineError(line_number, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ImportLineError(line_number, "a line must be a JSON object")
    try:
        key = parse_job_key(data.get("key", ""))
        if "project" in data and data["project"] != key.project_id:
            raise MetadataError("project", f"project {data['project']!r} does not match the key {key}.")
        spider_name = clean_spider_name(data.get("spider"))
        if "state" not in data:
            raise MetadataError("state", "state is missing.")
        clean_state(data["state"])
        # ts is the job's position in lists, not metadata.
        ts = data.pop("ts", None)
        columns, custom = split_metadata(data)
        if ts is None:
            ts = columns.get(f"{columns['state']}_time")
        if ts is None:
            times = [columns[name] for name in TIME_FIELDS if columns.get(name) is not None]
            ts = max(times) if times else None
        if ts is None:
            raise MetadataError("ts", f"ts is missing and the job has no {columns['state']}_time.")
        clean_time("ts", ts, nullable=False)
    except ValueError as exc:  # MetadataError and key errors
        raise ImportLineError(line_number, str(exc)) from None
    full = dict.fromkeys(WRITTEN_COLUMNS)
    full.update(priority=2, units=1, tags=[], meta=custom, ts=ts, number=key.number)
    full.update(columns)
    full.update(summary_figures(full["scrapystats"], custom))
    return ParsedJob(line_number, key, spider_name, full)


def _spiders_for(batch: Sequence[ParsedJob]) -> dict[tuple[int, int], Spider]:
    """{(project_id, number): Spider}, creating what is missing. A name that
    another spider of the project already uses is an error on that line."""
    project_ids = {job.key.project_id for job in batch}
    existing_projects = set(Project.objects.filter(pk__in=project_ids).values_list("pk", flat=True))
    Project.objects.bulk_create([Project(pk=pid) for pid in project_ids - existing_projects])
    spiders = {(s.project_id, s.number): s for s in Spider.objects.filter(project_id__in=project_ids)}
    by_name = {(s.project_id, s.name): s for s in spiders.values()}
    for job in batch:
        wanted = (job.key.project_id, job.key.spider_number)
        spider = spiders.get(wanted)
        if spider is None:
            holder = by_name.get((job.key.project_id, job.spider_name))
            if holder is not None:
                raise ImportLineError(
                    job.line_number,
                    f"spider {job.spider_name!r} already has id {holder.number} in project "
                    f"{holder.project_id}, not {job.key.spider_number}.",
                )
            spider = Spider.objects.create(
                project_id=job.key.project_id, number=job.key.spider_number, name=job.spider_name
            )
            spiders[wanted] = by_name[(spider.project_id, spider.name)] = spider
        elif spider.name != job.spider_name:
            raise ImportLineError(
                job.line_number,
                f"spider {job.key.spider_number} of project {job.key.project_id} is "
                f"{spider.name!r}, not {job.spider_name!r}.",
            )
    return spiders


def _keep_ids_ahead(spiders: Mapping[tuple[int, int], Spider], batch: Sequence[ParsedJob]) -> None:
    """New spiders and jobs must never reuse an imported id."""
    for project_id in {job.key.project_id for job in batch}:
        top = max(job.key.spider_number for job in batch if job.key.project_id == project_id)
        Project.objects.filter(pk=project_id, last_spider_number__lt=top).update(last_spider_number=top)
    tops: dict[int, int] = {}
    for job in batch:
        spider = spiders[(job.key.project_id, job.key.spider_number)]
        tops[spider.pk] = max(tops.get(spider.pk, 0), job.key.number)
    for spider_pk, top in tops.items():
        Spider.objects.filter(pk=spider_pk, last_job_number__lt=top).update(last_job_number=top)


@transaction.atomic
def write_batch(batch: Iterable[ParsedJob], summary: ImportSummary) -> None:
    # Later lines for the same key win, as if applied one after the other.
    batch = list({str(job.key): job for job in batch}.values())
    spiders = _spiders_for(batch)
    existing = {
        row["key"]: row
        for row in Job.objects.filter(key__in=[str(job.key) for job in batch]).values(
            "id", "key", "project_id", "spider_id", "number", *WRITTEN_COLUMNS
        )
    }
    counts = CountChanges()
    parsed = {str(job.key): job.columns for job in batch}
    new_jobs: list[Job]
    changed_jobs: list[Job]
    new_jobs, changed_jobs = [], []
    for job in batch:
        key = str(job.key)
        spider = spiders[(job.key.project_id, job.key.spider_number)]
        row = existing.get(key)
        if row is None:
            new_jobs.append(Job(key=key, project_id=job.key.project_id, spider=spider, **job.columns))
            counts.added(job.key.project_id, spider.pk, job.columns["state"])
        elif any(row[name] != job.columns[name] for name in job.columns):
            changed_jobs.append(
                Job(
                    id=row["id"],
                    key=key,
                    project_id=row["project_id"],
                    spider_id=row["spider_id"],
                    **job.columns,
                )
            )
            counts.moved(row["project_id"], row["spider_id"], row["state"], job.columns["state"])
        else:
            summary.unchanged += 1
    Job.objects.bulk_create(new_jobs, batch_size=500)
    if changed_jobs:
        Job.objects.bulk_update(changed_jobs, [*WRITTEN_COLUMNS, "number"], batch_size=500)
    counts.apply()
    # Spider health follows the jobs (jobs/health.py): one call per batch, with
    # each job's columns before (None when new) and after, ids included.
    runs_imported(
        [(None, {"id": new.pk, "state": new.state}) for new in new_jobs]
        + [(existing[changed.key], {"id": changed.pk, **parsed[changed.key]}) for changed in changed_jobs]
    )
    _keep_ids_ahead(spiders, batch)
    remember_tags((job.key.project_id, tag) for job in batch for tag in job.columns["tags"])
    summary.created += len(new_jobs)
    summary.updated += len(changed_jobs)
    summary.projects.update(job.key.project_id for job in batch)


def import_lines(
    lines: Iterable[str],
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[ImportSummary], object] | None = None,
) -> ImportSummary:
    """Import an iterable of text lines; returns an ImportSummary.

    Raises ImportLineError at the first bad line: the batches before it are
    written, nothing of its own batch is.
    """
    summary = ImportSummary()
    batch: list[ParsedJob] = []
    for line_number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        batch.append(parse_line(text, line_number))
        if len(batch) >= batch_size:
            write_batch(batch, summary)
            batch = []
            if progress:
                progress(summary)
    if batch:
        write_batch(batch, summary)
        if progress:
            progress(summary)
    return summary

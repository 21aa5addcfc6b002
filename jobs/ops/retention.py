"""Retention: deleting for good the jobs a project's policy no longer keeps
(`manage.py purge_jobs`).

A project may purge its deleted jobs N days after they were deleted and its
finished jobs M days after they finished (`ts`, the time the job entered its
state: a restored job counts from its restoration). Pending and running jobs
are never purged.

Jobs go in small batches, one short transaction each, oldest first along
the indexes that end with `ts` (job_active_ts for deleted jobs,
job_project_ts for finished ones). On PostgreSQL each batch locks its rows
with SKIP LOCKED, so it never waits for a writer and a writer never waits
long for it; a job being changed meanwhile is left for the next run. The
counters are adjusted in the same transaction as each batch, so they stay
exact between batches too.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from ..counts import remove_from_counters
from ..jobmeta import now_ms
from ..models import Job, Project
from ..timezones import DAY_MS

BATCH_SIZE = 1000
# Between batches, so that other writers (SQLite's single writer above all) get their turn.
PAUSE_SECONDS = 0.01


@dataclass
class Purge:
    """One state of one project: what its policy removes, and how many went."""

    project: Project
    state: str
    days: int
    before_ms: int
    jobs: int = 0
    batches: int = 0

    def candidates(self):
        return Job.objects.for_project(self.project).filter(state=self.state, ts__lt=self.before_ms)


def planned_purges(projects, now=None) -> list[Purge]:
    """A Purge for every state that a project's policy covers."""
    now = now_ms() if now is None else now
    return [
        Purge(project, state, days, now - days * DAY_MS)
        for project in projects
        for state, days in project.retention().items()
    ]


def count_candidates(purge: Purge) -> int:
    """The dry run: how many jobs the purge would delete now."""
    purge.jobs = purge.candidates().count()
    return purge.jobs


def purge_batch(purge: Purge, batch_size: int) -> int:
    """Delete the next `batch_size` oldest candidates and adjust the counters, in one transaction."""
    with transaction.atomic():
        rows = list(
            purge.candidates()
            .order_by("ts", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", "spider_id")[:batch_size]
        )
        if not rows:
            return 0
        doomed = Job.objects.filter(pk__in=[job_id for job_id, _ in rows])
        # The rows are locked: what is uncounted is what goes.
        remove_from_counters(doomed)
        doomed.delete()
    return len(rows)


def run_purge(
    purge: Purge,
    *,
    batch_size: int = BATCH_SIZE,
    pause: float = PAUSE_SECONDS,
    progress: Callable[[Purge], None] | None = None,
) -> int:
    """Purge batch after batch until no candidate is left; returns how many jobs went."""
    while True:
        deleted = purge_batch(purge, batch_size)
        if deleted:
            purge.jobs += deleted
            purge.batches += 1
            if progress:
                progress(purge)
        if deleted < batch_size:
            return purge.jobs
        if pause:
            time.sleep(pause)

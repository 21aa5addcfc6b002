"""Exact job counts per (project, spider, state), kept in the application.

Every write that adds, removes or moves jobs between states calls
`adjust_counts` inside its own transaction. An upsert that adds to the
stored number works on PostgreSQL and SQLite alike; row-level triggers were
10-30x slower on bulk writes (docs/performance.md).
"""

from collections import Counter
from collections.abc import Mapping
from itertools import batched

from django.db import connection

from .models import JobCount

# (project_id, spider_id, state): one counter row.
CountKey = tuple[int, int, str]


def adjust_counts(deltas: Mapping[CountKey, int]) -> None:
    """Add `deltas` ({(project_id, spider_id, state): change}) to the counters.

    Rows are written in key order so concurrent writers lock them in the same
    order and cannot deadlock each other.
    """
    rows = [(*key, change) for key, change in sorted(deltas.items()) if change]
    if not rows:
        return
    table = connection.ops.quote_name(JobCount._meta.db_table)
    with connection.cursor() as cursor:
        for chunk in batched(rows, 500):
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} (project_id, spider_id, state, n) VALUES {values} "
                f"ON CONFLICT (project_id, spider_id, state) DO UPDATE SET n = {table}.n + excluded.n",
                [value for row in chunk for value in row],
            )


class CountChanges(Counter[CountKey]):
    """Collects count changes while a write runs, then applies them at once."""

    def added(self, project_id: int, spider_id: int, state: str) -> None:
        self[(project_id, spider_id, state)] += 1

    def removed(self, project_id: int, spider_id: int, state: str) -> None:
        self[(project_id, spider_id, state)] -= 1

    def moved(self, project_id: int, spider_id: int, old_state: str, new_state: str) -> None:
        if old_state != new_state:
            self.removed(project_id, spider_id, old_state)
            self.added(project_id, spider_id, new_state)

    def apply(self) -> None:
        adjust_counts(self)
        self.clear()

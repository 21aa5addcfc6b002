"""Django's PostgreSQL backend, with a health check that costs no round trip.

A kept connection (CONN_MAX_AGE) is checked before each request uses it
(CONN_HEALTH_CHECKS). Django checks by running `SELECT 1`: a round trip to
the server on every request, as long as an indexed count. An idle connection
has nothing to read, though: when the server ends it (a restart, a crash,
`pg_terminate_backend`), its socket turns readable, with the server's
goodbye or the end of the stream. So a connection is usable when psycopg
holds it open, it is not in a failed transaction, and its socket has
nothing waiting, which the kernel answers without the server.

What this check cannot see, where `SELECT 1` would: a backend told to end
in the few milliseconds before a request, that has not yet said goodbye.
That request fails once with a 503 (jobs.middleware), as one does under
Django's check when the connection is lost between the check and the
query. A restart is not such a case: PostgreSQL answers nothing new until
every old backend has exited, and by then each has said goodbye.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

# A connection with any of these is in the middle of something else, or lost.
UNUSABLE_STATES = frozenset({TransactionStatus.INERROR, TransactionStatus.UNKNOWN, TransactionStatus.ACTIVE})


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status in UNUSABLE_STATES:
            return False
        # jobq never LISTENs, so an idle connection is sent nothing unasked:
        # anything to read means the server ended it (or said something this
        # process would not read before its next query), and a new connection
        # is the safe answer either way.
        poll = select.poll()
        poll.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poll.poll(0)

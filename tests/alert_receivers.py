"""Real receivers for alert tests: an HTTP server that records the webhooks
it gets (and can go down and come back on the same port), an SMTP server
(aiosmtpd) that records the mail, and the worker's real loops in threads."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout=30.0, what="the condition", pump=None):
    """Poll until condition() is true; a generous limit, never a timing
    assertion. `pump`, when given, runs between looks (the worker's loop in
    this thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pump is not None:
            pump()
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


class WebhookReceiver:
    def __init__(self, status=200):
        self.port = free_port()
        self.requests = []
        self.status = status
        self.server = None
        self.thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "json": json.loads(body)}
                )
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"thanks")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = None


class MailHandler:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf8", "replace"),
            }
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self):
        self.handler = MailHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self):
        return self.handler.messages

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


class WorkerThreads:
    """The worker as `manage.py alert_worker` runs it: the queue's worker loop
    and the clock that evaluates the time-based rules, in threads (PostgreSQL:
    SQLite's in-memory test database cannot be written from two threads)."""

    def __init__(self, tick_seconds=0.2):
        from jobs.alerts.worker import Clock, Worker

        self.worker = Worker(interval=0.05)
        self.clock = Clock(tick_seconds)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def _run(self):
        from django.db import connection

        try:
            self.worker.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            connection.close()

    def start(self):
        self.thread.start()
        self.clock.start()
        return self

    def wait_for(self, condition, what="the condition"):
        return wait_for(condition, what=what)

    def stop(self):
        self.clock.stop()
        self.clock.join()
        wait_for(lambda: self.worker._inner is not None, what="the worker loop")
        self.worker.stop()
        self.thread.join(timeout=30)
        if self.error is not None:
            raise self.error


class WorkerInThisThread:
    """The same loops in this thread (SQLite): each look while waiting runs
    the clock's tick and the queue's worker loop until nothing is due, as
    `manage.py alert_worker --batch` does."""

    def __init__(self, tick_seconds=0.2):
        from jobs.alerts.worker import Clock

        self.clock = Clock(tick_seconds)

    def pump(self):
        from jobs.alerts import worker

        if worker.take_turn(every_ms=int(self.clock.seconds * 1000)):
            worker.tick()
        worker.Worker(interval=0, batch=True).run()

    def wait_for(self, condition, what="the condition"):
        return wait_for(condition, what=what, pump=self.pump)

    def start(self):
        return self

    def stop(self):
        pass

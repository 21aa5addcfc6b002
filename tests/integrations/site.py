"""The site the test spiders crawl, served by the test itself on 127.0.0.1.

    /books?page=I&pages=P&per=K   K books, and a link to page I+1 while I < P
      &hold=3,5                   pages 3 and 5 wait until the test releases them
    /sleep?seconds=S              answers after S seconds (or when the site stops)

Held pages let a test look at jobq while a crawl is at a known point,
whatever the speed of the machine.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class Site:
    def __init__(self):
        self.requested = []  # the paths asked for, in order
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._released = {}  # page number -> Event
        self.waiting = set()  # held pages that a crawl is waiting for
        self._server = QuietServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def release(self, page):
        self._gate(page).set()

    def _gate(self, page):
        with self._lock:
            return self._released.setdefault(page, threading.Event())

    def stop(self):
        self._stopping.set()
        with self._lock:
            for gate in self._released.values():
                gate.set()
        self._server.shutdown()
        self._server.server_close()

    def pages_served(self, path="/books"):
        return sum(1 for requested in self.requested if requested.startswith(path))

    def _handler_class(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requested.append(self.path)
                parts = urlsplit(self.path)
                query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                if parts.path == "/books":
                    page = int(query.get("page", 1))
                    if str(page) in query.get("hold", "").split(","):
                        site.waiting.add(page)
                        site._gate(page).wait(120)
                        site.waiting.discard(page)
                    self.answer(books_page(query))
                elif parts.path == "/sleep":
                    site._stopping.wait(float(query.get("seconds", "60")))
                    self.answer("<html><body>done</body></html>")
                else:
                    self.send_error(404)

            def answer(self, html):
                body = html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass  # quiet: pytest shows the crawl's own log when a test fails

        return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a crawl killed mid-request is part of some tests, not news


def books_page(query):
    page, pages, per = int(query.get("page", 1)), int(query.get("pages", 1)), int(query.get("per", 5))
    hold = {"hold": query["hold"]} if query.get("hold") else {}
    books = "".join(
        f'<li class="book"><span class="title">Book {page}-{n}</span><span class="price">{page + n / 100}</span></li>'
        for n in range(1, per + 1)
    )
    next_link = ""
    if page < pages:
        following = urlencode({"page": page + 1, "pages": pages, "per": per, **hold})
        next_link = f'<a class="next" href="/books?{following}">next</a>'
    return f"<html><body><ul>{books}</ul>{next_link}</body></html>"

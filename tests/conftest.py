import threading
import time
from contextlib import contextmanager

import pytest
import requests
from scrapinghub import ScrapinghubClient

from jobs import spidernames

from .counting import assert_counts_exact
from .factories import make_key, make_project, make_user


@pytest.fixture(autouse=True)
def _no_shub_env(monkeypatch):
    # scrapinghub >= 2.9 lets these override the endpoint we pass.
    for name in ("SHUB_JOBQ", "SHUB_STORAGE", "SH_APIKEY", "SHUB_APIKEY", "SHUB_JOBAUTH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def _test_database_released(django_db_setup, django_db_blocker):
    """At the end, no session but ours on the test database, so that
    pytest-django can drop it: a server that a test started (gunicorn, the
    benchmark's) may still be closing its connections when the last test of
    a process ends, and PostgreSQL refuses to drop a database in use."""
    from django.db import connection

    yield
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        # A fresh connection: a test may have ended the one this process held.
        connection.close()
        with connection.cursor() as cursor:
            for _ in range(50):
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                if not cursor.fetchall():
                    return
                time.sleep(0.1)


@pytest.fixture(autouse=True)
def _fresh_spider_names():
    # Each test's rolled-back database may reuse spider ids under other names.
    spidernames.forget_all()


@pytest.fixture
def project(db):
    return make_project(53, "books")


@pytest.fixture
def other_project(db):
    return make_project(54, "other")


@pytest.fixture
def apikey(project):
    """A read-write key for project 53 (the raw key)."""
    return make_key(project)


@pytest.fixture
def api(client, apikey):
    """Django's test client with the key in Basic auth: api.get('/jobq/53/count')."""
    import base64

    token = base64.b64encode(f"{apikey}:".encode()).decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client


@pytest.fixture
def live(live_server, transactional_db):
    return live_server


@contextmanager
def requests_take_turns(live):
    """The live server, its requests one at a time where they would share a
    database connection.

    On SQLite the live server's threads share the test's in-memory database
    connection, and Django's documentation warns that simultaneous queries
    through it fail at random: a browser's overlapping requests (Enter in a
    filter field sends a change and a submit) now and then got a 503. There,
    requests take turns, and none reads the database once the test is over.
    PostgreSQL gives each thread its own connection: requests really overlap.
    """
    from django.db import connection

    httpd = live.thread.httpd
    app = httpd.get_app()
    lock = threading.Lock()
    over = threading.Event()

    def one_at_a_time(environ, start_response):
        with lock:
            if over.is_set():
                # The test is over and its database about to be flushed: a
                # request still queued (the chart a page fetches after its
                # rows) must not read it meanwhile.
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return [b""]
            result = app(environ, start_response)
            try:
                body = b"".join(result)  # streamed answers read the database too
            finally:
                if hasattr(result, "close"):
                    result.close()
        return [body]

    shared = connection.vendor == "sqlite" and connection.is_in_memory_db()
    if shared:
        httpd.set_app(one_at_a_time)
    try:
        yield live
    finally:
        if shared:
            with lock:  # waits for the request under way, if any
                over.set()
        httpd.set_app(app)


@pytest.fixture
def shub(live, project, apikey):
    """The official client pointed at a live jobq; .get_project(53) works."""
    client = ScrapinghubClient(apikey, endpoint=live.url + "/", use_msgpack=False)
    yield client
    client.close()
    # Drop the kept-alive connections, so no server thread outlives the test.
    client._hsclient.session.close()


@pytest.fixture
def http(live, apikey):
    """requests against the live server, authenticated: http.get('/jobq/53/list')."""
    session = requests.Session()
    session.auth = (apikey, "")

    class Http:
        url = live.url

        def __getattr__(self, method):
            return lambda path, **kw: session.request(method.upper(), live.url + path, **kw)

    yield Http()
    session.close()


@pytest.fixture(autouse=True, scope="session")
def _short_lived_connections():
    """Threads of the live server close their connections after each request,
    so the test database can be dropped at the end."""
    from django.db import connections

    for connection in connections.all():
        connection.settings_dict["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True, scope="session")
def _static_without_manifest():
    """Tests run without collectstatic, so pages name static files plainly
    (the manifest storage would fail on every {% static %} tag)."""
    from django.conf import settings
    from django.test import override_settings

    storages = {**settings.STORAGES}
    storages["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(STORAGES=storages):
        yield


# --- people: an owner, a member, an outsider and staff for access tests ------


@pytest.fixture
def owner(project):
    """Owner of project 53."""
    return make_user("owner", project, "owner")


@pytest.fixture
def member(project):
    """Member (not owner) of project 53."""
    return make_user("member", project, "member")


@pytest.fixture
def outsider(db, other_project):
    """Member of project 54 only: project 53 must look missing to them."""
    return make_user("outsider", other_project, "member")


@pytest.fixture
def staff(db):
    """Staff (may use the admin), member of nothing: sees no project."""
    return make_user("staff", is_staff=True)


@pytest.fixture
def superuser(db):
    """A superuser, member of nothing: sees every project."""
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Users with passwords cost ~0.8 s each with the real hasher; tests need none of its strength."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _counters_exact_after_each_test(request):
    """Every test that touches the database ends with its counters (per
    state, tag and day) equal to what count(*) finds: whatever path wrote
    the jobs. A test that breaks counters on purpose is marked
    `counters_unchecked`."""
    names = request.fixturenames
    database = next((name for name in ("transactional_db", "db") if name in names), None)
    marker = request.node.get_closest_marker("django_db")
    if database is None and marker is not None:
        transaction = marker.kwargs.get("transaction") or (marker.args and marker.args[0])
        database = "transactional_db" if transaction else "db"
    if database is None or request.node.get_closest_marker("counters_unchecked"):
        yield
        return
    # Asked for here, the database fixture outlives this check.
    request.getfixturevalue(database)
    yield
    assert_counts_exact()

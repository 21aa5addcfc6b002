"""Fixtures of the operations tests: migrated databases and static files made
once per session, and real servers stopped after each test."""

import pytest

from .servers import Server, local_environment, manage


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A var dir whose SQLite database is migrated: copied by each server's fixture."""
    template = tmp_path_factory.mktemp("migrated")
    manage(local_environment(template), "migrate", "--no-input", "-v", "0")
    return template


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory):
    """collectstatic's output, as make run prepares it: pages need its manifest."""
    root = tmp_path_factory.mktemp("static")
    manage(
        local_environment(root, STATIC_ROOT=str(root / "static")), "collectstatic", "--no-input", "-v", "0"
    )
    return root / "static"


@pytest.fixture
def servers():
    """Start servers with servers(env, name, **options); all are stopped after the test."""
    started = []

    def start(env, log_path, **options):
        server = Server(env, log_path, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop(quick=True)

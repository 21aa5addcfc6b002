"""Pages while the database is down: a polite HTML 503 with Retry-After,
never Django's 500 page (jobs/middleware.py). A real server process pointed
at a closed port, as for the API (tests/api/test_database_unavailable.py)."""

import requests

from ..api.test_database_unavailable import server_without_database  # noqa: F401  (a fixture)


def test_pages_say_the_database_is_down_politely(server_without_database):  # noqa: F811
    # A session cookie makes the page read the session, from the database.
    cookies = {"sessionid": "x" * 32}
    for path in ("/", "/p/53/", "/p/53/job/1/1/", "/keys/"):
        response = requests.get(server_without_database + path, cookies=cookies, allow_redirects=False)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"].isdigit()
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "no-store" in response.headers["Cache-Control"]
        assert "<h1>Back in a moment</h1>" in response.text
        assert "cannot reach its database" in response.text
        assert "Traceback" not in response.text and "Server Error" not in response.text

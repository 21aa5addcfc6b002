"""Alert rules and their history (jobs/views/alerts.py)."""

import pytest

from jobs.models import Alert, AlertDelivery, AlertRule

from ..health_factories import end_run

URL = "/p/53/alerts/"
NEW_RULE = {
    "name": "Failures",
    "kind": "outcome",
    "enabled": "on",
    "accepted": ["finished", "limit"],
    "stat": "items",
    "spiders": "books, prices",
    "tags": "",
    "webhook_url": "https://hooks.example.com/abc",
    "webhook_format": "slack",
    "emails": "ops@example.com, dev@example.com",
}


@pytest.mark.parametrize("who", ["owner", "member", "superuser"])
def test_people_of_the_project_manage_rules(client, project, who, request):
    client.force_login(request.getfixturevalue(who))
    response = client.post(URL, NEW_RULE)
    rule = AlertRule.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/p/53/alerts/{rule.pk}/"
    assert rule.accepted == ["finished", "limit"] and rule.spiders == ["books", "prices"]
    assert rule.email_list == ["ops@example.com", "dev@example.com"] and len(rule.webhook_secret) == 64
    assert rule.channels == ["webhook", "email"]
    page = client.get(f"/p/53/alerts/{rule.pk}/").content.decode()
    assert "a job ends other than: finished, stopped by a limit" in page and rule.webhook_secret in page


def test_outsiders_get_404(client, project, outsider):
    rule = AlertRule.objects.create(project=project, name="r", emails="a@example.com")
    client.force_login(outsider)
    assert client.get(URL).status_code == 404
    assert client.post(URL, NEW_RULE).status_code == 404
    assert client.get(f"/p/53/alerts/{rule.pk}/").status_code == 404
    assert client.post(f"/p/53/alerts/{rule.pk}/", {"action": "delete"}).status_code == 404
    assert client.get("/p/53/alerts/history").status_code == 404
    assert AlertRule.objects.count() == 1


def test_a_rule_of_another_project_is_a_404(client, project, other_project, superuser):
    rule = AlertRule.objects.create(project=other_project, name="r", emails="a@example.com")
    client.force_login(superuser)
    assert client.get(f"/p/53/alerts/{rule.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"webhook_url": "", "emails": ""}, "an alert must go somewhere"),
        ({"emails": "not-an-address"}, "not-an-address is not an e-mail address."),
        ({"webhook_url": "ftp://x.example.com/"}, "Enter a valid URL."),
        ({"kind": "stat_below", "percent": "150"}, "Give a share between 1 and 100."),
        ({"kind": "silent", "hours": ""}, "Give a number of hours above 0"),
        ({"kind": "errors_above", "errors": ""}, "Give the most errors a job may log."),
        ({"accepted": []}, "Accept at least one outcome"),
        ({"accepted": ["exploded"]}, "Select a valid choice."),
        ({"kind": "bogus"}, "Select a valid choice."),
    ],
)
def test_bad_rules_are_form_errors_and_nothing_is_saved(client, owner, change, error):
    client.force_login(owner)
    response = client.post(URL, {**NEW_RULE, **change})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not AlertRule.objects.exists()


def test_test_edit_and_delete_a_rule(client, owner, django_capture_on_commit_callbacks):
    client.force_login(owner)
    client.post(URL, NEW_RULE)
    rule = AlertRule.objects.get()
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(f"/p/53/alerts/{rule.pk}/", {"action": "test"})
    assert response.status_code == 302 and len(queued) == 1
    alert = Alert.objects.get()
    assert alert.test and alert.payload["event"] == "test"
    assert sorted(AlertDelivery.objects.values_list("channel", "status")) == [
        ("email", "pending"),
        ("webhook", "pending"),
    ]
    page = client.get(URL).content.decode()
    assert "Test of the rule &#x27;Failures&#x27;" in page and "pending" in page
    assert "No background worker has run yet" in page

    response = client.post(
        f"/p/53/alerts/{rule.pk}/", {**NEW_RULE, "action": "save", "name": "Renamed", "enabled": ""}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Renamed" and not rule.enabled
    old_secret = rule.webhook_secret
    client.post(f"/p/53/alerts/{rule.pk}/", {"action": "new_secret"})
    rule.refresh_from_db()
    assert rule.webhook_secret != old_secret
    client.post(f"/p/53/alerts/{rule.pk}/", {"action": "delete"})
    assert not AlertRule.objects.exists() and not Alert.objects.exists()


def test_history_shows_each_delivery_and_the_answer(client, owner, project, django_assert_num_queries):
    rule = AlertRule.objects.create(
        project=project, name="r", kind="outcome", webhook_url="http://127.0.0.1:9/x", webhook_secret="s"
    )
    end_run(project, reason="failed")
    AlertDelivery.objects.update(
        status="retrying",
        attempts=2,
        response="could not connect (connection refused, or no route to the host)",
    )
    client.force_login(owner)
    # session, user, project, alerts with their rules, their deliveries
    with django_assert_num_queries(5):
        html = client.get("/p/53/alerts/history").content.decode()
    assert "ended: failed" in html and "retrying" in html and "after 2 attempts" in html
    assert "could not connect" in html
    assert 'hx-trigger="every 5s' in html  # polls while a delivery is under way
    assert rule.alerts.count() == 1


def test_a_bad_rule_in_the_history_partial_is_a_400(client, owner):
    client.force_login(owner)
    for value in ("²", str(2**64), "1.5", "-1", "a\x00b"):
        response = client.get("/p/53/alerts/history", {"rule": value}, headers={"HX-Request": "true"})
        assert response.status_code == 400, value
        assert response.content.decode().startswith("rule: ")
    assert client.get("/p/53/alerts/history", {"rule": "99"}).status_code == 404

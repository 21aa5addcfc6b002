"""Alert rules and their history: /p/<project>/alerts/ (the rules, a new
rule, what was sent) and /p/<project>/alerts/<rule>/ (edit, test, delete).

Who may: the people who may change the project's jobs, i.e. its owners and
members, and superusers; anyone else gets the same 404 as for a missing project.
Every view checks it, partials included.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.validators import URLValidator, validate_email
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from ..access import project_for_user
from ..alerts.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER
from ..alerts.rules import TIME_KINDS, kind_text, new_secret, test_alert
from ..alerts.worker import CLOCK
from ..filters import Int64Field
from ..formatting import local_time, relative
from ..jobmeta import MAX_TEXT, now_ms
from ..models import Alert, AlertDelivery, AlertRule, HealthClock
from ..outcomes import OUTCOMES
from ..timezones import zone_name
from . import bad_request, form_errors

HISTORY_SIZE = 50
MAX_HOURS = 24 * 366
# Seconds between refreshes of the history while a delivery is under way.
HISTORY_SECONDS = 5
Kind = AlertRule.Kind


def names(text: str) -> list[str]:
    """'a, b  c' -> ['a', 'b', 'c']: names separated by commas or spaces, once each."""
    return list(dict.fromkeys(name for name in text.replace(",", " ").split() if name))


class AlertRuleForm(forms.ModelForm):
    accepted = forms.MultipleChoiceField(
        choices=[(outcome.value, outcome.label) for outcome in OUTCOMES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Accepted outcomes",
        help_text="A job that ends otherwise raises an alert.",
    )
    spiders = forms.CharField(
        required=False,
        max_length=4000,
        label="Only these spiders",
        help_text="Names separated by commas; empty: all.",
    )
    tags = forms.CharField(
        required=False,
        max_length=4000,
        label="Only jobs with one of these tags",
        help_text="Separated by commas; empty: any job.",
    )
    emails = forms.CharField(
        required=False, max_length=4000, label="E-mail to", help_text="Addresses separated by commas."
    )
    webhook_url = forms.CharField(
        required=False,
        max_length=1000,
        label="Webhook URL",
        validators=[URLValidator(schemes=["http", "https"])],
    )

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "kind",
            "enabled",
            "accepted",
            "stat",
            "percent",
            "errors",
            "hours",
            "spiders",
            "tags",
            "webhook_url",
            "webhook_format",
            "emails",
        ]
        labels = {
            "stat": "Figure",
            "percent": "Below this % of the usual",
            "errors": "More errors than",
            "hours": "Hours",
        }
        help_texts = {
            "stat": "items, pages, errors, duration, or any Scrapy stat (e.g. item_scraped_count).",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["spiders"] = ", ".join(self.instance.spiders)
            self.initial["tags"] = ", ".join(self.instance.tags)
            self.initial["accepted"] = self.instance.accepted or ["finished"]
        else:
            self.initial.setdefault("accepted", ["finished"])
        self.fields["percent"].widget.attrs.update(min=1, max=100)
        self.fields["hours"].widget.attrs.update(min=0.1, step="any")

    def clean_spiders(self) -> list[str]:
        found = names(self.cleaned_data["spiders"])
        if any(len(name) > MAX_TEXT for name in found):
            raise forms.ValidationError(f"A spider name is longer than {MAX_TEXT} characters.")
        return found

    def clean_tags(self) -> list[str]:
        found = names(self.cleaned_data["tags"])
        if any(len(name) > MAX_TEXT for name in found):
            raise forms.ValidationError(f"A tag is longer than {MAX_TEXT} characters.")
        return found

    def clean_emails(self) -> str:
        addresses = names(self.cleaned_data["emails"])
        for address in addresses:
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"{address[:60]} is not an e-mail address.") from None
        return ", ".join(addresses)

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        if kind == Kind.STAT_BELOW:
            if not (data.get("stat") or "").strip():
                self.add_error("stat", "Name the figure to watch.")
            percent = data.get("percent")
            if percent is None or not 1 <= percent <= 100:
                self.add_error("percent", "Give a share between 1 and 100.")
        if kind == Kind.ERRORS_ABOVE and data.get("errors") is None:
            self.add_error("errors", "Give the most errors a job may log.")
        if kind in TIME_KINDS:
            hours = data.get("hours")
            if hours is None or not 0 < hours <= MAX_HOURS:
                self.add_error("hours", f"Give a number of hours above 0 and at most {MAX_HOURS}.")
        if kind == Kind.OUTCOME and not data.get("accepted"):
            self.add_error("accepted", "Accept at least one outcome (usually finished).")
        if not data.get("webhook_url") and not data.get("emails") and not self.errors:
            raise forms.ValidationError(
                "Give a webhook URL, e-mail addresses, or both: an alert must go somewhere."
            )
        return data


def rule_row(rule: AlertRule) -> dict:
    scope = []
    if rule.spiders:
        scope.append("spiders " + ", ".join(rule.spiders))
    if rule.tags:
        scope.append("tags " + ", ".join(rule.tags))
    return {
        "rule": rule,
        "text": kind_text(rule),
        "scope": "; ".join(scope) or "every spider",
        "channels": rule.channels,
    }


def history(project, rule=None) -> list[dict]:
    """The newest alerts with their deliveries: two queries."""
    alerts = Alert.objects.filter(project=project).select_related("rule").order_by("-created_at", "-id")
    if rule is not None:
        alerts = alerts.filter(rule=rule)
    alerts = alerts.prefetch_related(
        Prefetch("deliveries", queryset=AlertDelivery.objects.order_by("channel"))
    )
    now = now_ms()
    rows = []
    for alert in alerts[:HISTORY_SIZE]:
        deliveries = [
            {
                "channel": delivery.channel,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "response": delivery.response,
                "next": relative(delivery.next_attempt_at, now)
                if delivery.status in ("pending", "retrying")
                else "",
                "sent": delivery.sent_at and local_time(delivery.sent_at),
            }
            for delivery in alert.deliveries.all()
        ]
        rows.append(
            {
                "alert": alert,
                "when": local_time(alert.created_at),
                "ago": relative(alert.created_at, now),
                "url": (alert.payload or {}).get("url"),
                "deliveries": deliveries,
                "busy": any(
                    delivery["status"] in ("pending", "sending", "retrying") for delivery in deliveries
                ),
            }
        )
    return rows


def worker_status() -> dict:
    """When the worker last evaluated the rules: a page says so when it seems stopped."""
    clock = HealthClock.objects.filter(name=CLOCK).values_list("next_at", flat=True).first()
    now = now_ms()
    return {
        "seen": clock is not None,
        "stale": clock is None or now - clock > 5 * 60_000,
        "next": clock and relative(clock, now),
    }


def history_context(project, rule=None) -> dict:
    rows = history(project, rule)
    return {
        "project": project,
        "history": rows,
        "history_busy": any(row["busy"] for row in rows),
        "history_seconds": HISTORY_SECONDS,
        "history_rule": rule,
        "zone": zone_name(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def alerts(request, project_id):
    project = project_for_user(request.user, project_id)
    if request.method == "POST":
        form = AlertRuleForm(request.POST)
        if form.is_valid():
            rule = form.save(commit=False)
            rule.project = project
            rule.created_by = request.user
            rule.webhook_secret = new_secret()
            rule.save()
            messages.success(request, f"Rule {rule.name!r} created.")
            return redirect("alert-rule", project_id=project.pk, rule_id=rule.pk)
    else:
        form = AlertRuleForm()
    context = {
        "project": project,
        "rules": [rule_row(rule) for rule in AlertRule.objects.filter(project=project)],
        "form": form,
        "worker": worker_status(),
        **history_context(project),
    }
    return render(request, "jobs/alerts.html", context, status=400 if form.errors else 200)


class HistoryForm(forms.Form):
    """The history partial's one parameter: the rule whose deliveries it shows."""

    rule = Int64Field(required=False, min_value=1)


@login_required
@require_GET
def alert_history(request, project_id):
    """The history partial, polled while a delivery is under way."""
    project = project_for_user(request.user, project_id)
    form = HistoryForm(request.GET)
    if not form.is_valid():
        return bad_request(form_errors(form))
    rule = None
    if form.cleaned_data["rule"] is not None:
        rule = AlertRule.objects.filter(project=project, pk=form.cleaned_data["rule"]).first()
        if rule is None:
            raise Http404("No such rule.")
    return render(request, "jobs/alerts.html#history", history_context(project, rule))


@login_required
@require_http_methods(["GET", "POST"])
def alert_rule(request, project_id, rule_id):
    project = project_for_user(request.user, project_id)
    rule = AlertRule.objects.filter(project=project, pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule.")
    form = AlertRuleForm(instance=rule)
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "delete":
            rule.delete()
            messages.success(request, f"Rule {rule.name!r} deleted, with its history.")
            return redirect("alerts", project_id=project.pk)
        if action == "test":
            test_alert(rule)
            messages.success(request, "A test alert is on its way on every channel of the rule; see below.")
            return redirect("alert-rule", project_id=project.pk, rule_id=rule.pk)
        if action == "new_secret":
            rule.webhook_secret = new_secret()
            rule.save(update_fields=["webhook_secret"])
            messages.success(request, "The webhook has a new secret: give it to the receiver.")
            return redirect("alert-rule", project_id=project.pk, rule_id=rule.pk)
        form = AlertRuleForm(request.POST, instance=rule)
        if form.is_valid():
            form.save()
            messages.success(request, "Rule saved.")
            return redirect("alert-rule", project_id=project.pk, rule_id=rule.pk)
    context = {
        "project": project,
        "rule": rule,
        "row": rule_row(rule),
        "form": form,
        "signature_header": SIGNATURE_HEADER,
        "timestamp_header": TIMESTAMP_HEADER,
        "worker": worker_status(),
        **history_context(project, rule),
    }
    return render(request, "jobs/alert_rule.html", context, status=400 if form.errors else 200)

"""The channels an alert travels by: a signed webhook and e-mail.

Each `send_*` makes one attempt and answers (ok, what the receiver said);
delivery.py decides about retries. Nothing here logs a URL or a secret:
webhook URLs often hold a token (Slack's do).
"""

import hashlib
import hmac
import smtplib
import time
from typing import Any

import orjson
import requests
from django.conf import settings
from django.core.mail import EmailMessage

from ..models import AlertRule

SIGNATURE_HEADER = "X-Jobq-Signature"
TIMESTAMP_HEADER = "X-Jobq-Timestamp"
DELIVERY_HEADER = "X-Jobq-Delivery"
# What is kept of a receiver's answer.
ANSWER_CHARS = 500


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of "<timestamp>.<body>" with the rule's
    secret. The timestamp is signed too, so a receiver can refuse replays."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack (and Mattermost, Rocket.Chat…) incoming-webhook message."""
    link = payload.get("url")
    text = f":rotating_light: {payload['summary']}"
    if link:
        text += f"\n<{link}|Open in jobq>"
    return {"text": text}


def webhook_body(rule: AlertRule, payload: dict[str, Any]) -> bytes:
    body = slack_body(payload) if rule.webhook_format == AlertRule.Format.SLACK else payload
    return orjson.dumps(body)


def send_webhook(rule: AlertRule, payload: dict[str, Any], *, delivery_id: int) -> tuple[bool, str]:
    body = webhook_body(rule, payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "jobq-alerts",
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(rule.webhook_secret, timestamp, body),
    }
    try:
        response = requests.post(
            rule.webhook_url,
            data=body,
            headers=headers,
            timeout=settings.JOBQ_ALERT_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return False, _error_text(exc)
    answer = f"HTTP {response.status_code} {response.reason}".strip()
    text = response.text.strip()
    if text:
        answer += f": {text[:ANSWER_CHARS]}"
    return 200 <= response.status_code < 300, answer


def _error_text(exc: Exception) -> str:
    """The kind of failure without the URL (requests puts it in its messages)."""
    if isinstance(exc, requests.ConnectionError):
        return "could not connect (connection refused, or no route to the host)"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {settings.JOBQ_ALERT_TIMEOUT} s"
    return type(exc).__name__


def email_text(payload: dict[str, Any]) -> str:
    lines = [payload["summary"], ""]
    job = payload.get("job")
    if job:
        for name in ("key", "spider", "state", "outcome", "close_reason", "items", "pages", "errors"):
            if job.get(name) is not None:
                lines.append(f"{name}: {job[name]}")
        lines.append("")
    for name, value in (payload.get("details") or {}).items():
        lines.append(f"{name}: {value}")
    lines += ["", f"Open in jobq: {payload.get('url')}", "", f"Rule: {payload['rule']['name']}"]
    return "\n".join(lines)


def send_email(rule: AlertRule, payload: dict[str, Any]) -> tuple[bool, str]:
    addresses = rule.email_list
    message = EmailMessage(
        subject=f"[jobq] {payload['summary']}"[:250], body=email_text(payload), to=addresses
    )
    try:
        sent = message.send()
    except (smtplib.SMTPException, OSError) as exc:
        return False, f"{type(exc).__name__}: {exc}"[:ANSWER_CHARS]
    if not sent:
        return False, "the mail server accepted nothing"
    return True, f"accepted for {', '.join(addresses)}"


def send(channel: str, rule: AlertRule, payload: dict[str, Any], *, delivery_id: int) -> tuple[bool, str]:
    if channel == "webhook":
        if not rule.webhook_url:
            return False, "the rule has no webhook any more"
        return send_webhook(rule, payload, delivery_id=delivery_id)
    if not rule.email_list:
        return False, "the rule has no e-mail address any more"
    return send_email(rule, payload)

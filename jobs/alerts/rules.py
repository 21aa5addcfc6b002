"""Alert rules: which runs and spiders raise an alert, and recording it.

Rules about a run that ended (outcome, a figure below its usual, errors above
a limit) are checked by `runs_ended`, called from `health.RunChanges.apply`
inside the transaction of the write that finished the job: the alert and its
deliveries are recorded with that change or not at all. Rules about time
(a silent spider, a job running or pending too long) are checked by
`evaluate_time_rules`, which the worker calls every JOBQ_HEALTH_TICK seconds.

An alert is recorded once per rule and subject (`alert_once`: the job, or a
spider's silence since its last start), and once per channel
(`delivery_once`); the deliveries are handed to the task queue when the
transaction commits.
"""

import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from ..formatting import format_duration
from ..health import FIGURES, MIN_RUNS, USUAL_RUNS, WALK_CAP, EndedRun, median
from ..jobmeta import now_ms
from ..links import job_url_kwargs
from ..models import Alert, AlertDelivery, AlertRule, Job, Spider, SpiderHealth, State
from ..outcomes import BY_VALUE, badge_label, is_healthy, outcome_of

Kind = AlertRule.Kind
JOB_KINDS = (Kind.OUTCOME, Kind.STAT_BELOW, Kind.ERRORS_ABOVE)
TIME_KINDS = (Kind.SILENT, Kind.RUNNING_LONG, Kind.PENDING_LONG)
HOUR_MS = 3_600_000
DEFAULT_ACCEPTED = ["finished"]


def new_secret() -> str:
    return secrets.token_hex(32)


def applies(rule: AlertRule, spider_name: str, tags: Iterable[str] = (), *, check_tags: bool = True) -> bool:
    """The rule covers this spider (and, for a job, one of its tags)."""
    if rule.spiders and spider_name not in rule.spiders:
        return False
    return not (check_tags and rule.tags and not set(rule.tags) & set(tags))


def absolute(path: str) -> str:
    return settings.JOBQ_BASE_URL + path


def job_url(key: str) -> str:
    return absolute(reverse("job-detail", kwargs=job_url_kwargs(key)))


def job_payload(row: dict[str, Any], spider_name: str) -> dict[str, Any]:
    """What an alert says about a job (the webhook's `job` object)."""
    started, finished = row.get("running_time"), row.get("finished_time")
    duration = finished - started if started is not None and finished is not None else None
    state = row["state"]
    return {
        "key": row["key"],
        "url": job_url(row["key"]),
        "spider": spider_name,
        "state": state,
        "outcome": outcome_of(row.get("close_reason")).value if state == State.FINISHED else None,
        "close_reason": row.get("close_reason"),
        "items": row.get("items"),
        "pages": row.get("pages"),
        "errors": row.get("errors"),
        "pending_time": row.get("pending_time"),
        "running_time": started,
        "finished_time": finished,
        "duration_ms": duration,
        "tags": list(row.get("tags") or []),
    }


def _figure(name: str, value: float | None) -> str:
    if value is None:
        return "none"
    return format_duration(int(value)) if name == "duration" else f"{round(value):,}"


def stat_usual(row: dict[str, Any], stat: str) -> tuple[float | None, float | None, int]:
    """(the job's value of a Scrapy stat, the median over the spider's previous
    healthy runs, how many runs): one bounded walk of job_spider_ts."""
    stats = Job.objects.filter(pk=row["id"]).values_list("scrapystats", flat=True).first()
    value = _number(stats or {}, stat)
    walked = (
        Job.objects.filter(project_id=row["project_id"], spider_id=row["spider_id"], state=State.FINISHED)
        .before_key(row["ts"], row["id"])
        .newest_first()
        .values_list("close_reason", "scrapystats")[:WALK_CAP]
    )
    values = [_number(stats or {}, stat) for reason, stats in walked if is_healthy(reason)][:USUAL_RUNS]
    values = [found for found in values if found is not None]
    if len(values) < MIN_RUNS:
        return value, None, len(values)
    return value, median(values), len(values)


def _number(stats: dict[str, Any], name: str) -> float | None:
    value = stats.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_run(rule: AlertRule, ended: EndedRun) -> tuple[str, dict[str, Any]] | None:
    """(what is wrong, details) when the ended run breaks the rule, else None."""
    run, row = ended.run, ended.row
    if rule.kind == Kind.OUTCOME:
        accepted = rule.accepted or DEFAULT_ACCEPTED
        if run.outcome in accepted:
            return None
        reason = row["close_reason"] or "none"
        return f"ended: {badge_label(run.outcome)} (close reason {reason})", {"accepted": accepted}
    if rule.kind == Kind.ERRORS_ABOVE:
        errors = run.errors or 0
        if rule.errors is None or errors <= rule.errors:
            return None
        return f"logged {errors:,} errors (the limit is {rule.errors:,})", {"limit": rule.errors}
    if rule.kind == Kind.STAT_BELOW and rule.percent is not None:
        stat = rule.stat or "items"
        value: float | None
        if stat in FIGURES:
            value = run.figure(stat)
            usual = ended.usual.of(stat) if ended.usual else None
            runs = ended.usual.runs if ended.usual else 0
        else:
            value, usual, runs = stat_usual(row, stat)
        if usual is None or usual <= 0:
            return None
        value = value or 0
        if value >= usual * rule.percent / 100:
            return None
        share = round(value / usual * 100)
        text = (
            f"{stat} {_figure(stat, value)} is {share}% of the usual {_figure(stat, usual)} "
            f"(below {rule.percent}%; median of {runs} runs)"
        )
        return text, {"stat": stat, "value": value, "usual": usual, "runs": runs, "percent": rule.percent}
    return None


def runs_ended(ended: Sequence[EndedRun], *, now: int) -> int:
    """Check the enabled run rules of the projects whose runs just ended;
    record the alerts. Returns how many were recorded."""
    project_ids = {item.row["project_id"] for item in ended}
    rules = list(AlertRule.objects.filter(project_id__in=project_ids, enabled=True, kind__in=JOB_KINDS))
    if not rules:
        return 0
    names = dict(
        Spider.objects.filter(pk__in={item.row["spider_id"] for item in ended}).values_list("pk", "name")
    )
    recorded = 0
    for item in ended:
        spider_name = names.get(item.row["spider_id"], "")
        for rule in rules:
            if rule.project_id != item.row["project_id"] or not applies(rule, spider_name, item.row["tags"]):
                continue
            found = check_run(rule, item)
            if found is None:
                continue
            problem, details = found
            job = job_payload(item.row, spider_name)
            summary = f"{spider_name} {item.row['key']} {problem}"
            payload = alert_payload(rule, f"job.{rule.kind}", summary, job=job, details=details, now=now)
            recorded += record(
                rule,
                f"job:{item.row['id']}",
                summary,
                payload,
                spider_id=item.row["spider_id"],
                job_id=item.row["id"],
                now=now,
            )
    return recorded


def alert_payload(
    rule: AlertRule,
    event: str,
    summary: str,
    *,
    job: dict[str, Any] | None = None,
    spider: str | None = None,
    details: dict[str, Any] | None = None,
    now: int,
) -> dict[str, Any]:
    """The webhook's JSON body (docs/health.md describes every field)."""
    return {
        "event": event,
        "summary": summary,
        "project": rule.project_id,
        "spider": job["spider"] if job else spider,
        "job": job,
        "details": details or {},
        "rule": {"id": rule.pk, "name": rule.name, "kind": rule.kind},
        "created_at": now,
        "url": job["url"] if job else absolute(reverse("spiders", kwargs={"project_id": rule.project_id})),
    }


def record(
    rule: AlertRule,
    subject: str,
    summary: str,
    payload: dict[str, Any],
    *,
    spider_id: int | None = None,
    job_id: int | None = None,
    now: int,
    test: bool = False,
) -> int:
    """Record an alert and one delivery per channel of its rule, unless this
    rule already raised one about `subject`. 1 if recorded, else 0. The
    deliveries go to the task queue when the transaction commits."""
    try:
        # A savepoint: a second alert about the same subject leaves no trace.
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                project_id=rule.project_id,
                spider_id=spider_id,
                job_id=job_id,
                subject=subject,
                summary=summary,
                payload=payload,
                test=test,
                created_at=now,
            )
    except IntegrityError:
        return 0
    alert.payload["alert_id"] = alert.pk
    Alert.objects.filter(pk=alert.pk).update(payload=alert.payload)
    deliveries = AlertDelivery.objects.bulk_create(
        [AlertDelivery(alert=alert, channel=channel, next_attempt_at=now) for channel in rule.channels]
    )
    ids = [delivery.pk for delivery in deliveries]
    if ids:
        from .tasks import enqueue_deliveries

        transaction.on_commit(lambda: enqueue_deliveries(ids), robust=True)
    return 1


def test_alert(rule: AlertRule, *, now: int | None = None) -> Alert:
    """ "Test this rule": an alert that says it is a test, sent on every channel now."""
    now = now or now_ms()
    summary = f"Test of the rule {rule.name!r}: this is what its alerts look like."
    payload = alert_payload(rule, "test", summary, now=now, details={"test": True})
    with transaction.atomic():
        record(rule, f"test:{secrets.token_hex(8)}", summary, payload, now=now, test=True)
    return Alert.objects.filter(rule=rule, test=True).order_by("-created_at", "-id").first()  # type: ignore[return-value]


# --- time-based rules -----------------------------------------------------------


def evaluate_time_rules(*, now: int | None = None) -> int:
    """Check every enabled silent / running-long / pending-long rule: a few
    queries per project with such rules. Returns how many alerts were recorded."""
    now = now or now_ms()
    rules = list(AlertRule.objects.filter(enabled=True, kind__in=TIME_KINDS).order_by("project_id", "pk"))
    by_project: dict[int, list[AlertRule]] = defaultdict(list)
    for rule in rules:
        by_project[rule.project_id].append(rule)
    recorded = 0
    for project_id, project_rules in by_project.items():
        with transaction.atomic():
            recorded += _time_rules_of(project_id, project_rules, now)
    return recorded


def _time_rules_of(project_id: int, rules: list[AlertRule], now: int) -> int:
    names = dict(Spider.objects.filter(project_id=project_id).values_list("pk", "name"))
    # Live jobs through the partial index job_active_ts: few rows.
    live: list[dict[str, Any]] = [
        dict(row)
        for row in Job.objects.filter(project_id=project_id, state__in=[State.RUNNING, State.PENDING]).values(
            "id",
            "key",
            "project_id",
            "spider_id",
            "state",
            "tags",
            "pending_time",
            "running_time",
            "items",
            "pages",
            "errors",
            "close_reason",
        )
    ]
    running_spiders = {row["spider_id"] for row in live if row["state"] == State.RUNNING}
    recorded = 0
    silent_rules = [rule for rule in rules if rule.kind == Kind.SILENT and rule.hours]
    if silent_rules:
        # The spider's name in the same query: a spider created since `names` was read counts too.
        healths = SpiderHealth.objects.filter(project_id=project_id, last_started__isnull=False)
        for health in healths.select_related("spider").only("spider_id", "last_started", "spider__name"):
            if health.spider_id in running_spiders:
                continue
            spider_name = health.spider.name
            silent_for = now - (health.last_started or 0)
            for rule in silent_rules:
                assert rule.hours is not None
                if silent_for <= rule.hours * HOUR_MS or not applies(rule, spider_name, check_tags=False):
                    continue
                summary = f"{spider_name} has started no run for {format_duration(silent_for)} (the limit is {rule.hours:g} h)"
                details = {"last_started": health.last_started, "silent_ms": silent_for, "hours": rule.hours}
                payload = alert_payload(
                    rule, "spider.silent", summary, spider=spider_name, details=details, now=now
                )
                recorded += record(
                    rule,
                    f"silent:{health.spider_id}:{health.last_started}",
                    summary,
                    payload,
                    spider_id=health.spider_id,
                    now=now,
                )
    for rule in rules:
        if rule.kind not in (Kind.RUNNING_LONG, Kind.PENDING_LONG) or not rule.hours:
            continue
        state = State.RUNNING if rule.kind == Kind.RUNNING_LONG else State.PENDING
        for row in live:
            since = row[f"{state}_time"]
            spider_name = names.get(row["spider_id"], "")
            if row["state"] != state or since is None or now - since <= rule.hours * HOUR_MS:
                continue
            if not applies(rule, spider_name, row["tags"]):
                continue
            verb = "has been running" if state == State.RUNNING else "has been waiting to start"
            summary = f"{spider_name} {row['key']} {verb} for {format_duration(now - since)} (the limit is {rule.hours:g} h)"
            job = job_payload(row, spider_name)
            payload = alert_payload(
                rule, f"job.{rule.kind}", summary, job=job, details={"hours": rule.hours}, now=now
            )
            recorded += record(
                rule,
                f"job:{row['id']}",
                summary,
                payload,
                spider_id=row["spider_id"],
                job_id=row["id"],
                now=now,
            )
    return recorded


def kind_text(rule: AlertRule) -> str:
    """The rule in a short sentence, as the alerts page lists it."""
    if rule.kind == Kind.OUTCOME:
        accepted = ", ".join(
            BY_VALUE[value].label for value in (rule.accepted or DEFAULT_ACCEPTED) if value in BY_VALUE
        )
        return f"a job ends other than: {accepted}"
    if rule.kind == Kind.STAT_BELOW:
        return f"{rule.stat} below {rule.percent}% of the usual"
    if rule.kind == Kind.ERRORS_ABOVE:
        return f"more than {rule.errors:,} errors" if rule.errors is not None else "errors above a limit"
    hours = f"{rule.hours:g} h" if rule.hours is not None else "some hours"
    texts: dict[str, str] = {
        Kind.SILENT: f"a spider starts no run for {hours}",
        Kind.RUNNING_LONG: f"a job runs longer than {hours}",
        Kind.PENDING_LONG: f"a job waits longer than {hours} to start",
    }
    return texts.get(rule.kind, rule.kind)

"""The spiders overview: /p/<project>/spiders/ and its refresh."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from ..access import project_for_user
from ..formatting import format_duration, local_isoformat, local_time, relative
from ..health.overview import SpiderRow, overview, sparkline
from ..jobmeta import now_ms
from ..links import job_detail_url, job_list_url
from ..outcomes import badge_label
from ..timezones import zone_name
from . import form_errors

# Seconds between refreshes of the overview.
REFRESH_SECONDS = 30


def row_context(row: SpiderRow, project, now: int) -> dict:
    """What the template shows for one spider."""
    last = row.last
    key = f"{project.pk}/{row.spider.number}/{last.number}" if last else None
    duration = row.usual.of("duration") if row.usual else None
    return {
        "name": row.spider.name,
        "jobs_url": job_list_url(project, spider=row.spider.name),
        "last": last
        and {
            "key": key,
            "url": job_detail_url(key),
            "badge": last.outcome,
            "label": badge_label(last.outcome),
            "when": last.finished and local_time(last.finished),
            "iso": last.finished and local_isoformat(last.finished),
            "ago": last.finished and relative(last.finished, now),
            "items": last.items,
        },
        "runs_7d": row.runs_7d,
        "success": None if row.success_rate is None else round(row.success_rate * 100),
        "finished_30d": row.finished_30d,
        "sparkline": sparkline(row.runs),
        "usual_duration": format_duration(int(duration)) if duration else "",
        "usual_interval": format_duration(int(row.interval)) if row.interval else "",
        "running": row.running,
        "pending": row.pending,
        "flags": row.flags,
        "severity": row.severity,
    }


class SpidersForm(forms.Form):
    attention = forms.ChoiceField(
        choices=[("", "every spider"), ("1", "those needing attention")], required=False
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def spiders(request, project_id):
    """Every spider of the project with its health, those needing attention
    first; `?attention=1` shows only those. htmx refreshes #spiders."""
    project = project_for_user(request.user, project_id)
    form = SpidersForm(request.GET)
    # An unknown value shows every spider, saying why.
    attention_only = form.is_valid() and form.cleaned_data["attention"] == "1"
    now = now_ms()
    rows = overview(project, now=now)
    shown = [row for row in rows if row.flags] if attention_only else rows
    context = {
        "project": project,
        "rows": [row_context(row, project, now) for row in shown],
        "total": len(rows),
        "needing": sum(1 for row in rows if row.flags),
        "attention_only": attention_only,
        "errors": form_errors(form),
        "zone": zone_name(),
        "refresh_seconds": REFRESH_SECONDS,
        "refresh_url": reverse("spiders", kwargs={"project_id": project.pk})
        + ("?attention=1" if attention_only else ""),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "jobs/spiders.html#spiders", context)
    return render(request, "jobs/spiders.html", context)

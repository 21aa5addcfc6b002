"""Compare two runs: /p/<project>/compare/?key=A&key=B, their metadata and
Scrapy stats side by side, the differences highlighted."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from ..access import project_for_user
from ..filters import JobKeyListField
from ..formatting import format_duration, is_number, value_text
from ..jobmeta import METADATA_COLUMNS, metadata_of
from ..links import job_detail_url, with_query
from ..models import Job
from ..outcomes import badge_label, badge_of

# Fields shown first, in this order; the others follow by name.
FIRST_FIELDS = (
    "spider",
    "state",
    "close_reason",
    "items",
    "pages",
    "errors",
    "pending_time",
    "running_time",
    "finished_time",
    "version",
    "spider_args",
    "tags",
    "priority",
    "units",
)
HIDDEN_FIELDS = {"scrapystats", "project"}


class CompareForm(forms.Form):
    key = JobKeyListField(required=True)

    def __init__(self, data, *, project) -> None:
        super().__init__(data)
        self.project = project

    def clean_key(self):
        keys = list(dict.fromkeys(self.cleaned_data["key"]))
        if len(keys) != 2:
            raise forms.ValidationError(f"Pick exactly two different jobs to compare ({len(keys)} given).")
        for key in keys:
            if key.project_id != self.project.pk:
                raise forms.ValidationError(f"{key} is not a job of project {self.project.pk}.")
        return keys


def cell(value) -> str:
    return "" if value is None else value_text(value)


def compared_rows(a: dict, b: dict) -> list[dict]:
    """[{name, a, b, differs, delta}] over the union of the two objects' keys."""
    names = [name for name in FIRST_FIELDS if name in a or name in b]
    names += sorted((set(a) | set(b)) - set(names) - HIDDEN_FIELDS)
    rows = []
    for name in names:
        left, right = a.get(name), b.get(name)
        rows.append(
            {
                "name": name,
                "a": cell(left),
                "b": cell(right),
                "differs": left != right,
                "delta": delta(left, right),
            }
        )
    return rows


def delta(left, right) -> str:
    """'+1,204 (+38%)' for two numbers; nothing otherwise."""
    if not (is_number(left) and is_number(right)) or left == right:
        return ""
    change = right - left
    text = f"{change:+,}" if isinstance(change, int) else f"{change:+,.3g}"
    if left:
        text += f" ({change / abs(left) * 100:+.0f}%)"
    return text


def side(job: Job) -> dict:
    row = {column: getattr(job, column) for column in METADATA_COLUMNS}
    metadata = metadata_of(row, job.spider.name)
    started, finished = job.running_time, job.finished_time
    badge = badge_of(job.state, job.close_reason)
    return {
        "job": job,
        "url": job_detail_url(job.key),
        "badge": badge,
        "badge_label": badge_label(badge),
        "duration": format_duration(finished - started)
        if started and finished and finished >= started
        else "",
        "metadata": metadata,
        "stats": metadata.get("scrapystats") if isinstance(metadata.get("scrapystats"), dict) else {},
    }


@login_required
@require_GET
def compare(request, project_id):
    project = project_for_user(request.user, project_id)
    form = CompareForm(request.GET, project=project)
    context = {"project": project, "errors": [], "key_a": "", "key_b": ""}
    keys = request.GET.getlist("key")
    context["key_a"], context["key_b"] = ([*keys, "", ""])[:2]
    if not form.is_valid():
        context["errors"] = [error for errors in form.errors.values() for error in errors]
        return render(request, "jobs/compare.html", context, status=400 if keys else 200)
    key_a, key_b = form.cleaned_data["key"]
    query = QueryDict(mutable=True)
    query.setlist("key", [str(key_a), str(key_b)])
    canonical = with_query(reverse("compare", kwargs={"project_id": project.pk}), query)
    if request.htmx:
        # The list's "Compare two…" button: load the comparison as a page.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = canonical
        return response
    jobs = {
        job.key: job
        for job in Job.objects.select_related("spider").filter(
            project=project, key__in=[str(key_a), str(key_b)]
        )
    }
    missing = [str(key) for key in (key_a, key_b) if str(key) not in jobs]
    if missing:
        context["errors"] = [f"There is no job {key} in this project." for key in missing]
        return render(request, "jobs/compare.html", context, status=404)
    a, b = side(jobs[str(key_a)]), side(jobs[str(key_b)])
    context.update(
        {
            "a": a,
            "b": b,
            "fields": compared_rows(
                {k: v for k, v in a["metadata"].items() if k != "scrapystats"}
                | {"duration": a["duration"] or None},
                {k: v for k, v in b["metadata"].items() if k != "scrapystats"}
                | {"duration": b["duration"] or None},
            ),
            "stats": compared_rows(a["stats"], b["stats"]),
            "swap_url": with_query(reverse("compare", kwargs={"project_id": project.pk}), _swapped(query)),
        }
    )
    context["differences"] = sum(row["differs"] for row in context["fields"] + context["stats"])
    return render(request, "jobs/compare.html", context)


def _swapped(query: QueryDict) -> QueryDict:
    swapped = QueryDict(mutable=True)
    swapped.setlist("key", query.getlist("key")[::-1])
    return swapped

"""The job detail page and its inline tag editor.

Access is checked here, in every view, never only in the template: the tag
editor is a partial that htmx fetches on its own. Members and owners may
edit tags; anyone else gets the same 404 as for a missing project.
"""

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.validators import ProhibitNullCharactersValidator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from .. import lifecycle
from ..access import project_for_user
from ..formatting import format_duration, is_number, value_text
from ..health import COHORTS, comparison_of, percent_text, runs_around
from ..health.runchart import runs_chart
from ..jobdetail import close_reason_text, stats_groups, timeline
from ..jobmeta import MAX_TEXT, METADATA_COLUMNS, TIME_FIELDS, metadata_of, now_ms
from ..links import job_detail_url, job_list_url, job_url_kwargs
from ..models import Job, State, Tag
from ..outcomes import badge_label, badge_of, outcome_of
from . import form_errors

# Metadata fields with a section of their own on the page.
OWN_SECTIONS = {
    "tags",
    "spider_args",
    "scrapystats",
    "close_reason",
    "project",
    "spider",
    "state",
    *TIME_FIELDS,
}


def job_for(project, spider_number, job_number):
    """The project's job with that key (one lookup on the unique key index), or 404."""
    key = f"{project.pk}/{spider_number}/{job_number}"
    job = Job.objects.select_related("spider").filter(project=project, key=key).first()
    if job is None:
        raise Http404("No such job.")
    return job


def metadata_for(job):
    """The job's metadata exactly as GET /jobs/<key> answers it."""
    row = {column: getattr(job, column) for column in METADATA_COLUMNS}
    return metadata_of(row, job.spider.name)


def display_value(value):
    """(text, is_json): strings and numbers as they are, anything else as JSON."""
    return value_text(value), not (isinstance(value, str) or is_number(value))


def other_fields(metadata, job):
    """[(name, text, is_json), …]: every metadata field without its own section,
    then the summary figures the list shows."""
    fields = [(name, *display_value(value)) for name, value in metadata.items() if name not in OWN_SECTIONS]
    for name in ("items", "pages", "errors"):
        value = getattr(job, name)
        if value is not None and name not in metadata:
            fields.append((name, f"{value:,}", False))
    return fields


class UsualForm(forms.Form):
    """Which of the spider's runs the job is compared with (`usual=`)."""

    usual = forms.ChoiceField(choices=list(COHORTS.items()), required=False)


def usual_context(job, params):
    """The comparison with the spider's usual and the chart of its runs
    (finished jobs only); an unknown `usual=` compares with all runs, saying so."""
    if job.state != State.FINISHED:
        return {"comparison": None}
    form = UsualForm(params)
    cohort = (form.is_valid() and form.cleaned_data["usual"]) or "all"
    comparison = comparison_of(job, cohort)
    figures = []
    for name, value, usual, ratio, far in comparison.figures:
        as_text = (lambda n: format_duration(int(n))) if name == "duration" else (lambda n: f"{round(n):,}")
        figures.append(
            {
                "name": name,
                "value": "" if value is None else as_text(value),
                "usual": "" if usual is None else as_text(usual),
                "change": "" if ratio is None else percent_text(ratio),
                "far": far,
            }
        )
    runs, newer = runs_around(job, comparison.before)
    usual = comparison.usual
    base = reverse("job-detail", kwargs=job_url_kwargs(job.key))
    return {
        "comparison": comparison,
        "usual_figures": figures,
        "cohorts": [(value, label, f"{base}?usual={value}") for value, label in COHORTS.items()],
        "cohort": cohort,
        "cohort_label": COHORTS[cohort],
        "run_charts": [
            chart
            for chart in (
                runs_chart(runs, job.number, "items", usual.of("items") if usual else None),
                runs_chart(runs, job.number, "duration", usual.of("duration") if usual else None),
            )
            if chart
        ],
        "runs_shown": len(runs),
        "runs_newer": newer,
        "usual_errors": form_errors(form),
    }


def tags_context(project, job, *, error=None, status=None):
    """What the tag editor partial needs, and nothing more."""
    return {
        "project": project,
        "job": job,
        "tags_url": reverse("job-tags", kwargs=job_url_kwargs(job.key)),
        "tag_error": error,
        "tag_status": status,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def job_detail(request, project_id, spider_number, job_number):
    project = project_for_user(request.user, project_id)
    job = job_for(project, spider_number, job_number)
    metadata = metadata_for(job)
    if request.htmx and request.htmx.target == "usual":
        # The cohort links redraw only the comparison.
        return render(
            request,
            "jobs/job_detail.html#usual",
            {"job": job, **usual_context(job, request.GET)},
        )
    previous_key, next_key = Job.objects.neighbour_keys(job)
    badge = badge_of(job.state, job.close_reason)
    jobs_path = reverse("job-metadata", kwargs=job_url_kwargs(job.key))
    jobq_path = reverse("jobq-jobsummary", kwargs={"project_id": project.pk}) + f"?key={job.key}"
    context = {
        **tags_context(project, job),
        "spider": job.spider,
        "metadata": metadata,
        "fields": other_fields(metadata, job),
        "steps": timeline(metadata, now_ms(), ts=job.ts),
        "close_reason": metadata.get("close_reason"),
        "close_reason_text": close_reason_text(metadata.get("close_reason"), job.state),
        "stats_groups": stats_groups(metadata.get("scrapystats")),
        "spider_args": sorted((metadata.get("spider_args") or {}).items()),
        "previous_key": previous_key,
        "next_key": next_key,
        "previous_url": previous_key and job_detail_url(previous_key),
        "compare_previous_url": previous_key
        and reverse("compare", kwargs={"project_id": project.pk}) + f"?key={previous_key}&key={job.key}",
        "badge": badge,
        "badge_label": badge_label(badge),
        "outcome_text": outcome_of(job.close_reason).description if job.state == State.FINISHED else "",
        **usual_context(job, request.GET),
        "next_url": next_key and job_detail_url(next_key),
        "jobs_url": request.build_absolute_uri(jobs_path),
        "jobq_url": request.build_absolute_uri(jobq_path),
        "api_root": request.build_absolute_uri("/"),
        "metadata_json": json.dumps(metadata, ensure_ascii=False, indent=2, sort_keys=False),
        "tag_suggestions": Tag.objects.suggestions(project),
        "list_url": job_list_url(project),
        "spider_list_url": job_list_url(project, spider=job.spider.name),
    }
    # Previous/next links swap only the job (#job) under htmx; a history
    # restore after a cache miss needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "jobs/job_detail.html#job" if partial else "jobs/job_detail.html", context)


class TagForm(forms.Form):
    action = forms.ChoiceField(choices=[("add", "Add"), ("remove", "Remove")])
    # Not stripped here: a tag pushed through the API with spaces around it
    # must still be removable. A new tag typed in the page is stripped.
    tag = forms.CharField(max_length=MAX_TEXT, strip=False, validators=[ProhibitNullCharactersValidator()])

    def clean(self):
        data = super().clean()
        if data.get("action") == "add" and "tag" in data:
            data["tag"] = data["tag"].strip()
            if not data["tag"]:
                self.add_error("tag", "This field is required.")
        return data


@login_required
@require_POST
def job_tags(request, project_id, spider_number, job_number):
    """Add or remove one tag of one job; the partial for htmx, a redirect otherwise."""
    project = project_for_user(request.user, project_id)
    job = job_for(project, spider_number, job_number)
    form = TagForm(request.POST)
    error = status = None
    if form.is_valid():
        tag, action = form.cleaned_data["tag"], form.cleaned_data["action"]
        this_job = Job.objects.filter(pk=job.pk)
        if action == "add":
            lifecycle.add_tags(this_job, [tag])
            status = f"Tag {tag} added."
        else:
            lifecycle.remove_tags(this_job, [tag])
            status = f"Tag {tag} removed."
        job.refresh_from_db(fields=["tags"])
    else:
        reasons = [error for errors in form.errors.values() for error in errors]
        error = "The tag was not changed. " + " ".join(reasons)
    if request.htmx:
        context = tags_context(project, job, error=error, status=status)
        return render(request, "jobs/job_detail.html#tags", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, status)
    return redirect("job-detail", **job_url_kwargs(job.key))

"""Bulk actions on the job list: add tag, remove tag, delete, restore.

Who may: every member of the project (owners and members alike) and superusers;
deleting only moves jobs to the `deleted` state and restore moves them back,
every action is recorded in BulkAction, so members need no owner to tidy up.
Anyone else gets the same 404 as for a missing project.

The flow works without JavaScript: the toolbar posts to `bulk-action`,
which answers a confirmation page saying how many jobs will change; its
form posts again with `confirm=1`, the change runs in one transaction
with its BulkAction row, and the browser is redirected back to the list.
With htmx the confirmation is swapped into the toolbar instead of a page.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.validators import ProhibitNullCharactersValidator
from django.db import transaction
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .. import lifecycle
from ..access import project_for_user
from ..filters import JobKeyListField, PageJobFilter, filter_params
from ..jobmeta import MAX_TEXT
from ..keys import parse_job_key
from ..links import job_detail_url, job_list_path, with_query
from ..models import BulkAction, Job, State

# More selected rows than any list page shows.
MAX_SELECTED_KEYS = 1000
# "All jobs matching" changes at most this many (see bulk_limit).
DEFAULT_BULK_MAX = 100_000
TAG_ACTIONS = (BulkAction.Action.ADD_TAG, BulkAction.Action.REMOVE_TAG)
# The toolbar's actions. Runs and cancels share the BulkAction log but have
# views of their own (runs.py): the toolbar must not accept them.
BULK_ACTIONS = (*TAG_ACTIONS, BulkAction.Action.DELETE, BulkAction.Action.RESTORE)
# A deleted job comes back as finished: JobQ deletes finished jobs, and
# bringing one back as pending would make runners start it again.
RESTORED_STATE = State.FINISHED


# What the confirmation adds about an action's consequences.
NOTES = {
    BulkAction.Action.DELETE: "Deleted jobs are hidden from the list and from JobQ's default answers; restoring brings them back.",
    BulkAction.Action.RESTORE: "Restored jobs are finished again and keep the time they really finished.",
}


def bulk_limit():
    """The most jobs one bulk action changes: about 15-60k jobs a second are
    changed on PostgreSQL on 2 cores, so 100,000 stays within a request's time
    (settings.JOBQ_BULK_MAX changes it)."""
    return getattr(settings, "JOBQ_BULK_MAX", DEFAULT_BULK_MAX)


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[(action.value, action.label) for action in BULK_ACTIONS])
    # Stripped only for add_tag: an API-made tag with spaces stays removable.
    tag = forms.CharField(
        required=False, strip=False, max_length=MAX_TEXT, validators=[ProhibitNullCharactersValidator()]
    )
    key = JobKeyListField(required=False)
    all = forms.BooleanField(required=False)
    confirm = forms.BooleanField(required=False)
    # The list's query string, to go back to the same view of the list.
    back = forms.CharField(required=False, max_length=4000)

    def clean(self):
        data = super().clean()
        if data.get("action") == BulkAction.Action.ADD_TAG and "tag" in data:
            data["tag"] = data["tag"].strip()
        if data.get("action") in TAG_ACTIONS and not data.get("tag"):
            self.add_error("tag", "Name the tag to add or remove.")
        if not data.get("all") and not data.get("key"):
            raise forms.ValidationError("Select some jobs first, or choose all jobs matching the filter.")
        if len(data.get("key") or []) > MAX_SELECTED_KEYS:
            raise forms.ValidationError(
                f"At most {MAX_SELECTED_KEYS} jobs can be selected one by one; "
                "choose all jobs matching the filter instead."
            )
        return data


def list_url(project, back):
    """The job list with the query string it was left with (a path of ours:
    the query string is re-encoded, never used as a URL)."""
    return with_query(job_list_path(project), QueryDict(back or ""))


def back_url_of(project, data):
    """Where the browser goes afterwards: the job's page when the action came
    from a job detail page (`job_page=<key>` of this project), else the list."""
    key = data.get("job_page", "")
    try:
        parsed = parse_job_key(key) if key else None
    except ValueError:
        parsed = None
    if parsed is not None and parsed.project_id == project.pk:
        return job_detail_url(str(parsed))
    return list_url(project, data.get("back", ""))


def selected_jobs(project, form, data):
    """(queryset, selection text) of the jobs the request names; a
    ValidationError when "all jobs matching" comes with an invalid filter."""
    if form.cleaned_data["all"]:
        job_filter = PageJobFilter(data, project=project)
        if not job_filter.is_valid():
            errors = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in job_filter.errors.items())
            raise forms.ValidationError(f"The filter is not valid ({errors}).")
        return job_filter.qs, filter_params(data).urlencode()
    keys = [str(key) for key in form.cleaned_data["key"] if key.project_id == project.pk]
    selection = QueryDict(mutable=True)
    selection.setlist("key", keys)
    return Job.objects.for_project(project).filter(key__in=keys), selection.urlencode()


def jobs_that_change(jobs, action, tag):
    """The part of the selection that the action would change: the count
    shown and recorded is of jobs really changed."""
    if action == BulkAction.Action.ADD_TAG:
        return jobs.exclude(tags__overlap=[tag])
    if action == BulkAction.Action.REMOVE_TAG:
        return jobs.filter(tags__overlap=[tag])
    if action == BulkAction.Action.DELETE:
        return jobs.exclude(state=State.DELETED)
    return jobs.filter(state=State.DELETED)


def apply_bulk_action(*, project, user, action, tag, jobs, selection):
    """Run the action on `jobs` and record it, all in one transaction; the
    number of jobs changed. The lifecycle functions keep the per-state
    counters and the Tag table exact."""
    with transaction.atomic():
        if action == BulkAction.Action.ADD_TAG:
            count = lifecycle.add_tags(jobs, [tag])
        elif action == BulkAction.Action.REMOVE_TAG:
            count = lifecycle.remove_tags(jobs, [tag])
        else:
            state = State.DELETED if action == BulkAction.Action.DELETE else RESTORED_STATE
            count = len(lifecycle.change_state(jobs, state, by=user.get_username()))
        BulkAction.objects.create(
            project=project,
            user=user,
            action=action,
            tag=tag if action in TAG_ACTIONS else "",
            selection=selection,
            count=count,
        )
    return count


def describe(action, tag, count):
    """'Add tag “x” to 1,234 jobs' and friends, for the confirmation and the message."""
    jobs = f"{count:,} job" + ("" if count == 1 else "s")
    if action == BulkAction.Action.ADD_TAG:
        return f"add tag “{tag}” to {jobs}"
    if action == BulkAction.Action.REMOVE_TAG:
        return f"remove tag “{tag}” from {jobs}"
    if action == BulkAction.Action.DELETE:
        return f"delete {jobs}"
    return f"restore {jobs}"


@login_required
@require_POST
def bulk_action(request, project_id):
    project = project_for_user(request.user, project_id)
    form = BulkForm(request.POST)
    back_url = back_url_of(project, request.POST)
    template = "jobs/bulk_confirm.html#confirm" if request.htmx else "jobs/bulk_confirm.html"
    context = {"project": project, "form": form, "back_url": back_url}
    # htmx swaps only 2xx answers: the error goes in the toolbar with a 200.
    invalid = 200 if request.htmx else 400
    if not form.is_valid():
        return render(request, template, context, status=invalid)
    action, tag = form.cleaned_data["action"], form.cleaned_data["tag"]
    try:
        jobs, selection = selected_jobs(project, form, request.POST)
    except forms.ValidationError as error:
        form.add_error(None, error)
        return render(request, template, context, status=invalid)
    jobs = jobs_that_change(jobs, action, tag)
    limit = bulk_limit()
    # Counting stops after limit + 1 rows, so "all" over millions stays fast.
    count = jobs.capped_count(limit)
    if count > limit:
        form.add_error(
            None,
            f"This would change more than {limit:,} jobs, more than the dashboard changes at "
            "once. Narrow the filter (a time range, a spider), or use the JobQ API's update.",
        )
        return render(request, template, context, status=invalid)
    if not form.cleaned_data["confirm"]:
        context.update(
            count=count,
            question=describe(action, tag, count),
            note=NOTES.get(action, ""),
            carried=carried_fields(request.POST),
        )
        return render(request, template, context)
    count = apply_bulk_action(
        project=project, user=request.user, action=action, tag=tag, jobs=jobs, selection=selection
    )
    messages.success(request, "Done: " + describe(action, tag, count) + ".")
    return redirect(back_url)


def carried_fields(data):
    """[(name, value), …] of the request, to post again with confirm=1."""
    return [
        (name, value)
        for name in data
        if name not in ("csrfmiddlewaretoken", "confirm")
        for value in data.getlist(name)
    ]

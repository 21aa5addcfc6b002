"""Cancelling a job from the dashboard.

Who may: every member of the project (owners and members alike) and staff,
as for the bulk actions. There is no read-only membership: read-only is a
property of API keys, and keys are not people. Anyone else gets the same 404
as for a missing project.

A cancel goes through the lifecycle code of the JobQ API's cancel,
`cancel_jobs`, with `cancelled_by` = the person's username: a pending job is
finished at once with close reason `cancelled`; a running one is marked, and
its runner stops it. It is recorded in the BulkAction log (action `cancel`)
in the same transaction as the change.

It works without JavaScript: a cancel asks for confirmation on a page before
it posts. With htmx, the confirmation opens in a dialog over the list or the
job's page (`run_actions.html#dialog`).

Where the browser goes afterwards: with `back` (the job list's query string,
carried by the links of the list) to that list; otherwise to the job's page.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from .. import lifecycle
from ..access import project_for_user
from ..links import job_detail_url, job_list_path, with_query
from ..models import BulkAction, Job, State


def back_of(params):
    """The job list's query string to return to, or None (no list to go back to)."""
    back = params.get("back")
    return None if back is None else back[:4000]


def list_url_for(project, back):
    """The job list with the query string it was left with (re-encoded: a
    path of ours, never a URL taken from the request)."""
    return with_query(job_list_path(project), QueryDict(back))


def in_dialog(request):
    """True when htmx asked for the part alone, to show in the dialog."""
    return bool(request.htmx) and not request.htmx.boosted


def selection_of(key):
    """The BulkAction record's `selection` for one job, as the toolbar writes keys."""
    selection = QueryDict(mutable=True)
    selection["key"] = key
    return selection.urlencode()


def job_for(project, spider_number, job_number):
    """The project's job with that key, with its spider, or 404."""
    key = f"{project.pk}/{spider_number}/{job_number}"
    job = Job.objects.select_related("spider").filter(project=project, key=key).first()
    if job is None:
        raise Http404("No such job.")
    return job


def cancel_context(request, project, job, back):
    """What the confirmation says: what cancelling does to this job, and who
    (if anyone) will stop it."""
    meta = job.meta or {}
    return {
        "project": project,
        "job": job,
        "spider": job.spider,
        "cancellable": job.state == State.PENDING
        or (job.state == State.RUNNING and not meta.get("cancelled_by")),
        "cancelled_by": meta.get("cancelled_by") if job.state == State.RUNNING else None,
        "worker": meta.get("worker"),
        "back": back,
        "cancel_url": reverse(
            "job-cancel",
            kwargs={"project_id": project.pk, "spider_number": job.spider.number, "job_number": job.number},
        ),
        "done_url": list_url_for(project, back) if back is not None else job_detail_url(job.key),
        "in_dialog": in_dialog(request),
    }


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def job_cancel(request, project_id, spider_number, job_number):
    """Cancel a pending or running job: GET asks for confirmation, POST
    cancels it through `lifecycle.cancel_jobs`, records it, and goes back.

    A job that is no longer pending or running has nothing to cancel: the
    POST changes and records nothing, and says so.
    """
    project = project_for_user(request.user, project_id)
    job = job_for(project, spider_number, job_number)
    if request.method == "GET":
        context = cancel_context(request, project, job, back_of(request.GET))
        template = "jobs/job_cancel.html#confirm" if context["in_dialog"] else "jobs/job_cancel.html"
        return render(request, template, context)
    back = back_of(request.POST)
    with transaction.atomic():
        count = lifecycle.cancel_jobs(project=project, keys=[job.key], by=request.user.get_username())
        if count:
            BulkAction.objects.create(
                project=project,
                user=request.user,
                action=BulkAction.Action.CANCEL,
                selection=selection_of(job.key),
                count=count,
            )
            # Read again: a worker may have started the job since the page was drawn.
            job.state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).get()
    name = f"{job.spider.name} {job.key}"
    if not count:
        messages.info(request, f"{name} is {job.state}: there was nothing to cancel.")
    elif job.state == State.FINISHED:
        messages.success(request, f"Cancelled {name}: it had not started, and is now finished (cancelled).")
    else:
        messages.success(
            request, f"Asked {name} to stop: it shows “cancel requested” until its runner stops it."
        )
    return redirect(list_url_for(project, back) if back is not None else job_detail_url(job.key))

"""Running a spider and cancelling a job from the dashboard.

Who may: every member of the project (owners and members alike) and superusers,
as for the bulk actions. There is no read-only membership: read-only is a
property of API keys, and keys are not people. Anyone else gets the same 404
as for a missing project.

Both go through the lifecycle code of the JobQ API: a run is
`push_request` + `push_jobs`, so it is a pending job like any pushed one
(jobq-worker takes it with `startjob`), with `scheduled_by` = the person's
username; a cancel is `cancel_jobs`, with `cancelled_by` = the username (a
pending job is finished at once with close reason `cancelled`; a running
one is marked, and its runner stops it). Each is recorded in the BulkAction
log (actions `run` and `cancel`) in the same transaction as the change.

Both work without JavaScript: the run form is a page, and a cancel asks for
confirmation on a page before it posts. With htmx, each opens in a dialog
over the list or the job's page (`run_actions.html#dialog`); the run form's
errors are redrawn there, and success reloads the page the person came from.

Where the browser goes afterwards: with `back` (the job list's query string,
carried by the links of the list) to that list; otherwise to the job's page.
After a run, the list must show the new job: the list's filter if it
matches the job (its first page), else all the project's jobs but deleted
ones (a list of finished jobs would hide the new pending one); without
`back`, the new job's page.
"""

import hashlib
import itertools
import json

import orjson
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.validators import ProhibitNullCharactersValidator
from django.db import transaction
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from .. import lifecycle
from ..access import project_for_user
from ..filters import JobKeyField, PageJobFilter, filter_params
from ..jobmeta import MAX_TEXT, MetadataError, clean_tags
from ..links import job_detail_url, job_list_path, job_list_url, with_query
from ..models import BulkAction, Job, Spider, State
from . import form_errors

# Name/value rows a run form takes; a spider with more arguments is pushed
# through the API.
MAX_ARGUMENTS = 100
# Empty argument rows offered below the filled ones ("More arguments" adds these again).
BLANK_ROWS = 2
# JobQ's priorities, highest first, as Scrapy Cloud names them.
PRIORITIES = [(4, "4 · highest"), (3, "3 · high"), (2, "2 · normal"), (1, "1 · low"), (0, "0 · lowest")]
DEFAULT_PRIORITY = 2
# The `unique` of a run scheduled with "Refuse if the same run…" ticked.
UNIQUE_PREFIX = "dashboard-run:"


class ArgumentsWidget(forms.Widget):
    """Spider arguments posted as rows of repeated `<name>_name` and
    `<name>_value` fields; the template draws the rows itself."""

    def value_from_datadict(self, data, files, name):
        names, values = data.getlist(f"{name}_name"), data.getlist(f"{name}_value")
        return list(itertools.zip_longest(names, values, fillvalue=""))

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_name" not in data and f"{name}_value" not in data


class ArgumentsField(forms.Field):
    """[(name, value), …] rows -> {name: value}. A row left empty is no
    argument; a value needs a name, and a name comes once."""

    widget = ArgumentsWidget

    def clean(self, value):
        rows = [(name.strip(), text) for name, text in value or [] if name.strip() or text]
        if len(rows) > MAX_ARGUMENTS:
            raise forms.ValidationError(
                f"At most {MAX_ARGUMENTS} arguments; push a run with more through the API."
            )
        arguments: dict[str, str] = {}
        errors = []
        for name, text in rows:
            if not name:
                errors.append(f"The value “{text[:40]}” has no name: name the argument or clear its value.")
            elif "=" in name:
                errors.append(f"“{name[:40]}”: a name cannot hold “=” (the crawl gets -a NAME=VALUE).")
            elif len(name) > MAX_TEXT:
                errors.append(f"“{name[:40]}…”: a name has at most {MAX_TEXT} characters.")
            elif "\x00" in name or "\x00" in text:
                errors.append(f"“{name[:40]}”: null characters are not allowed.")
            elif name in arguments:
                errors.append(f"“{name[:40]}” is given twice.")
            else:
                arguments[name] = text
        if errors:
            raise forms.ValidationError(errors)
        return arguments


class RunForm(forms.Form):
    spider = forms.ChoiceField(
        label="Spider",
        error_messages={
            "required": "Choose the spider to run.",
            "invalid_choice": "“%(value)s” is not a spider of this project.",
        },
    )
    arguments = ArgumentsField(required=False, label="Spider arguments")
    tags = forms.CharField(
        required=False,
        label="Tags",
        help_text="Separated by commas.",
        validators=[ProhibitNullCharactersValidator()],
        widget=forms.TextInput(attrs={"autocomplete": "off", "aria-describedby": "run-tags-help"}),
    )
    priority = forms.TypedChoiceField(
        label="Priority",
        choices=PRIORITIES,
        coerce=int,
        initial=DEFAULT_PRIORITY,
        help_text="Recorded with the job; jobq-worker takes jobs oldest first whatever their priority.",
        widget=forms.Select(attrs={"aria-describedby": "run-priority-help"}),
    )
    once = forms.BooleanField(
        required=False,
        initial=True,
        label="Refuse if the same run is pending or running",
        help_text="The same run: this spider with the same arguments, scheduled with this box "
        "ticked. A second click or a reload then schedules nothing.",
        widget=forms.CheckboxInput(attrs={"aria-describedby": "run-once-help"}),
    )

    def __init__(self, *args, spider_names, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["spider"].choices = [(name, name) for name in spider_names]

    def clean_tags(self):
        typed = [tag.strip() for tag in self.cleaned_data["tags"].split(",")]
        try:
            return clean_tags([tag for tag in typed if tag])
        except MetadataError as exc:
            raise forms.ValidationError(exc.message) from None

    def typed_values(self):
        """What a bound form holds as typed, to draw it again unchecked."""
        values = {name: self[name].data for name in self.fields}
        values["once"] = self.fields["once"].to_python(values["once"])
        return values

    def push_data(self, username):
        """The push line this form asks for, as the API's push takes it."""
        data = self.cleaned_data
        line = {"spider": data["spider"], "priority": data["priority"], "scheduled_by": username}
        if data["arguments"]:
            line["spider_args"] = data["arguments"]
        if data["tags"]:
            line["tags"] = data["tags"]
        if data["once"]:
            line["unique"] = unique_key_of(data["spider"], data["arguments"])
        return line


def unique_key_of(spider, arguments):
    """The `unique` of a run scheduled with "Refuse if the same run…": the same
    spider with the same arguments, in any order, gives the same value."""
    canonical = orjson.dumps([spider, arguments], option=orjson.OPT_SORT_KEYS)
    return UNIQUE_PREFIX + hashlib.sha256(canonical).hexdigest()


def argument_text(value):
    """An argument as the crawl gets it: strings as they are, other JSON
    values as JSON (what jobq-worker passes to `scrapy crawl -a`)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class PrefillForm(forms.Form):
    """The run form's GET parameters: the job to copy, or the spider to run."""

    # `from` is a Python keyword: the field is added under its parameter name below.
    spider = forms.CharField(required=False, max_length=MAX_TEXT)


PrefillForm.base_fields["from"] = JobKeyField(required=False)


def initial_for(project, prefill):
    """The form's first values: a copy of job `from=` ("Run again": its
    spider, arguments and priority; not its tags, which may have been added
    after it ran), else the spider of `spider=`. `prefill` is a valid PrefillForm."""
    initial = {"priority": DEFAULT_PRIORITY, "once": True}
    params = prefill.cleaned_data
    key = params["from"]
    job = None
    if key:
        job = (
            Job.objects.for_project(project)
            .filter(key=str(key))
            .select_related("spider")
            .only("spider__name", "spider_args", "priority")
            .first()
        )
    if job is not None:
        arguments = [(name, argument_text(value)) for name, value in (job.spider_args or {}).items()]
        initial.update(spider=job.spider.name, arguments=arguments, priority=job.priority)
    elif params.get("spider"):
        initial["spider"] = params["spider"]
    return initial


def back_of(params):
    """The job list's query string to return to, or None (no list to go back to)."""
    back = params.get("back")
    return None if back is None else back[:4000]


def list_url_for(project, back):
    """The job list with the query string it was left with (re-encoded: a
    path of ours, never a URL taken from the request)."""
    return with_query(job_list_path(project), QueryDict(back))


def after_run_url(project, back, key):
    """Where the browser goes once job `key` is scheduled (see the module docstring)."""
    if back is None:
        return job_detail_url(key)
    filters = filter_params(QueryDict(back))
    job_filter = PageJobFilter(filters, project=project)
    if job_filter.is_valid() and job_filter.qs.filter(key=key).exists():
        return with_query(job_list_path(project), filters)
    return job_list_url(project)


def in_dialog(request):
    """True when htmx asked for the part alone, to show in the dialog."""
    return bool(request.htmx) and not request.htmx.boosted


def selection_of(key):
    """The BulkAction record's `selection` for one job, as the toolbar writes keys."""
    selection = QueryDict(mutable=True)
    selection["key"] = key
    return selection.urlencode()


def render_run_form(request, project, form, *, back, status=200, blanks=BLANK_ROWS, prefill_errors=()):
    rows = [(name, text) for name, text in form["arguments"].value() or [] if name or text]
    dialog = in_dialog(request)
    context = {
        "project": project,
        "form": form,
        "argument_rows": rows + [("", "")] * blanks,
        "back": back,
        "close_url": list_url_for(project, back) if back is not None else job_list_url(project),
        "in_dialog": dialog,
        "prefill_errors": prefill_errors,
    }
    # htmx swaps only 2xx answers: an error goes in the dialog with a 200.
    return render(
        request,
        "jobs/run_form.html#run-form" if dialog else "jobs/run_form.html",
        context,
        status=200 if dialog else status,
    )


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def job_run(request, project_id):
    """Schedule a run of one of the project's known spiders.

    GET draws the form (prefilled from `from=<job key>` or `spider=`); POST
    pushes the job and records the run, or redraws the form with what was
    wrong (400; 409 when the same run is pending or running and the form
    asked to refuse it).
    "More arguments" (`more`) redraws it with more empty rows, scheduling nothing.
    """
    project = project_for_user(request.user, project_id)
    spider_names = sorted(Spider.objects.names(project).values())
    if request.method == "GET":
        prefill = PrefillForm(request.GET)
        if not prefill.is_valid():
            form = RunForm(spider_names=spider_names, initial={"priority": DEFAULT_PRIORITY, "once": True})
            return render_run_form(
                request,
                project,
                form,
                back=back_of(request.GET),
                status=400,
                prefill_errors=form_errors(prefill),
            )
        form = RunForm(spider_names=spider_names, initial=initial_for(project, prefill))
        return render_run_form(request, project, form, back=back_of(request.GET))
    back = back_of(request.POST)
    form = RunForm(request.POST, spider_names=spider_names)
    if "more" in request.POST:
        # Not checked yet: a form half filled in is no mistake.
        form = RunForm(spider_names=spider_names, initial=form.typed_values())
        return render_run_form(request, project, form, back=back, blanks=BLANK_ROWS * 2)
    if not form.is_valid():
        return render_run_form(request, project, form, back=back, status=400)
    try:
        push = lifecycle.push_request(form.push_data(request.user.get_username()), project=project)
    except MetadataError as exc:
        # The form checks every field first; this is a last line of defence.
        form.add_error(None, exc.message)
        return render_run_form(request, project, form, back=back, status=400)
    with transaction.atomic():
        (answer,) = lifecycle.push_jobs(project=project, pushes=[push])
        if "key" in answer:
            BulkAction.objects.create(
                project=project,
                user=request.user,
                action=BulkAction.Action.RUN,
                selection=selection_of(answer["key"]),
                count=1,
            )
    if "key" not in answer:
        holder = (
            Job.objects.for_project(project)
            .filter(unique_key=push.columns["unique_key"], state__in=lifecycle.ACTIVE_STATES)
            .values_list("key", flat=True)
            .first()
        )
        holding = "" if holder is None else f" (job {holder})"
        form.add_error(
            "once",
            f"{push.spider_name} with these arguments is already pending or running{holding}: "
            "nothing was scheduled. Untick this box to run it again anyway.",
        )
        return render_run_form(request, project, form, back=back, status=409)
    key = answer["key"]
    messages.success(
        request,
        format_html(
            "Scheduled {} as job <a href='{}'>{}</a>: pending until a worker starts it.",
            push.spider_name,
            job_detail_url(key),
            key,
        ),
    )
    done_url = after_run_url(project, back, key)
    if in_dialog(request):
        return HttpResponseClientRedirect(done_url)
    return redirect(done_url)


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

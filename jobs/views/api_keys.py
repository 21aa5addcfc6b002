"""A user's own API keys: create one for some of their projects, see it
once, revoke it. Keys are stored only as digests (ApiKey.generate), so the
raw key exists in the answer to the creating POST and nowhere else.

Any member of a project (owner or member) and superusers may create keys for it:
a key never sees more than its creator could see in the dashboard when it
was made. A user sees and revokes only their own keys; anybody else's key
is a 404, the same as a missing one. Staff revoke other people's keys in
the admin.
"""

import secrets

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from ..access import visible_projects
from ..filters import ProjectsField
from ..keys import INT64_MAX
from ..models import ApiKey

# The page lists the newest keys; nobody keeps more than a few dozen.
MAX_KEYS_SHOWN = 200
# Create-form tokens already used, kept in the session (never the keys).
USED_TOKENS_KEY = "api_key_form_tokens"
USED_TOKENS_KEPT = 20


class ProjectChoiceField(ProjectsField):
    def label_from_instance(self, obj):
        return f"{obj.label} #{obj.pk}"


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Name",
        help_text="What the key is for, e.g. “nightly export”.",
        widget=forms.TextInput(attrs={"aria-describedby": "name-help", "autocomplete": "off"}),
    )
    projects = ProjectChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        label="Projects",
        error_messages={"required": "Choose at least one project."},
    )
    read_only = forms.BooleanField(
        required=False, label="Read-only", help_text="The key can list and count jobs but not change them."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["projects"].queryset = visible_projects(user)


def keys_of(user):
    """The user's keys, newest first, with their projects (two queries)."""
    return list(ApiKey.objects.filter(user=user).prefetch_related("projects")[:MAX_KEYS_SHOWN])


def new_form_token():
    """A one-time token for the create form. The key is shown in the answer
    to the POST itself (it is stored nowhere), so a reload re-posts the
    form: a token seen before creates nothing and redirects instead."""
    return secrets.token_urlsafe(16)


def token_was_used(request, token):
    """True if this create form was already posted; remembers it otherwise."""
    used = request.session.get(USED_TOKENS_KEY, [])
    if token in used:
        return True
    request.session[USED_TOKENS_KEY] = [*used, token][-USED_TOKENS_KEPT:]
    return False


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def api_keys(request):
    created = raw_key = None
    if request.method == "POST":
        form = ApiKeyForm(request.POST, user=request.user)
        if form.is_valid():
            token = request.POST.get("form_token", "")
            if not token or token_was_used(request, token[:64]):
                messages.info(request, "That form was already sent: the key it created is in the list below.")
                return redirect("api-keys")
            created, raw_key = ApiKey.generate(
                projects=form.cleaned_data["projects"],
                name=form.cleaned_data["name"],
                user=request.user,
                read_only=form.cleaned_data["read_only"],
            )
            # A fresh, empty form under the key just shown.
            form = ApiKeyForm(user=request.user)
    else:
        initial = {}
        project = request.GET.get("project", "")
        if project.isascii() and project.isdigit():
            initial["projects"] = [int(project)]
        form = ApiKeyForm(user=request.user, initial=initial)
    context = {
        "form": form,
        "form_token": new_form_token(),
        "keys": keys_of(request.user),
        "created": created,
        "raw_key": raw_key,
    }
    status = 400 if request.method == "POST" and form.errors else 200
    return render(request, "jobs/api_keys.html", context, status=status)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def api_key_revoke(request, key_id):
    key = ApiKey.objects.filter(pk=key_id, user=request.user).first() if key_id <= INT64_MAX else None
    if key is None:
        raise Http404("No such key.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    if request.htmx:
        return render(request, "jobs/api_keys.html#key-row", {"key": key})
    messages.success(request, f"The key {key.name or key.prefix} is revoked: it no longer works.")
    return redirect("api-keys")

"""HTML pages. The JobQ API lives in jobq_views.py."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from .access import visible_projects


@login_required
def home(request):
    """The project picker; with a single project, straight to its jobs."""
    projects = list(visible_projects(request.user))
    if len(projects) == 1:
        return redirect("job-list", project_id=projects[0].pk)
    return render(request, "jobs/home.html", {"projects": projects})


@login_required
def job_list(request, project_id):
    # Placeholder until the job list page lands (issue 4).
    from .access import project_for_user

    project = project_for_user(request.user, project_id)
    return render(request, "jobs/home.html", {"projects": [project]})

"""Who may see which project in the browser. Every page and partial calls
these in the view, never only in the template: a partial can be fetched alone."""

from django.http import Http404

from .keys import INT64_MAX
from .models import Membership, Project


def visible_projects(user):
    """Projects a user may see: superusers see all; everyone else, staff
    included, those they are members of (staff is the right to use the
    admin, not to read every project)."""
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(membership__user=user)


def project_for_user(user, project_id, *, owner=False):
    """The project if `user` may see it (own it, with owner=True); 404 otherwise,
    the same for a foreign and a missing project."""
    projects = visible_projects(user)
    if owner and not user.is_superuser:
        projects = projects.filter(membership__role=Membership.Role.OWNER)
    project = projects.filter(pk=project_id).first() if project_id <= INT64_MAX else None
    if project is None:
        raise Http404("No such project.")
    return project

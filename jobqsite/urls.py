from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from jobs.jobq.errors import handler400, handler403, handler404, handler500  # noqa: F401  (Django reads them here)
from jobs.ops.login_throttle import ThrottledLoginView

# /healthz and /metrics are answered by jobs.ops.middleware, before host checks.
urlpatterns = [
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("jobs.jobq.urls")),
    path("", include("jobs.views.urls")),
]

from django.contrib import admin
from django.urls import path

from jobs.urls import jobq_urlpatterns
from jobs.errors import handler404, handler500  # noqa: F401  (Django reads them here)

urlpatterns = [
    path("admin/", admin.site.urls),
    *jobq_urlpatterns,
]

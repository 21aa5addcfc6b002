from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from jobs import views
from jobs.errors import handler404, handler500  # noqa: F401  (Django reads them here)
from jobs.urls import jobq_urlpatterns, page_urlpatterns

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    *jobq_urlpatterns,
    *page_urlpatterns,
]

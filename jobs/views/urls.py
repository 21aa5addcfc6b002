"""The dashboard's routes."""

from django.urls import path

from .. import converters  # noqa: F401  (registers <id:…>)
from . import alerts, api_keys, bulk, compare, exports, job_detail, job_list, runs, spiders

urlpatterns = [
    path("", job_list.home, name="home"),
    path("p/<id:project_id>/", job_list.job_list, name="job-list"),
    # The job list's partials and exports, with the list's filters.
    path("p/<id:project_id>/live", job_list.job_list_live, name="job-list-live"),
    path("p/<id:project_id>/chart", job_list.job_list_chart, name="job-list-chart"),
    path("p/<id:project_id>/tags", job_list.job_list_tags, name="job-list-tags"),
    path("p/<id:project_id>/export.csv", exports.job_export, {"fmt": "csv"}, name="job-export-csv"),
    path("p/<id:project_id>/export.jsonl", exports.job_export, {"fmt": "jsonl"}, name="job-export-jsonl"),
    path(
        "p/<id:project_id>/job/<id:spider_number>/<id:job_number>/",
        job_detail.job_detail,
        name="job-detail",
    ),
    path(
        "p/<id:project_id>/job/<id:spider_number>/<id:job_number>/tags/",
        job_detail.job_tags,
        name="job-tags",
    ),
    path("p/<id:project_id>/bulk/", bulk.bulk_action, name="bulk-action"),
    # Spider health: the overview, comparing two runs, alert rules and their history.
    path("p/<id:project_id>/spiders/", spiders.spiders, name="spiders"),
    path("p/<id:project_id>/compare/", compare.compare, name="compare"),
    path("p/<id:project_id>/alerts/", alerts.alerts, name="alerts"),
    path("p/<id:project_id>/alerts/history", alerts.alert_history, name="alert-history"),
    path("p/<id:project_id>/alerts/<id:rule_id>/", alerts.alert_rule, name="alert-rule"),
    # Running a spider and cancelling a job (runs.py).
    path("p/<id:project_id>/run/", runs.job_run, name="job-run"),
    path(
        "p/<id:project_id>/job/<id:spider_number>/<id:job_number>/cancel/",
        runs.job_cancel,
        name="job-cancel",
    ),
    path("keys/", api_keys.api_keys, name="api-keys"),
    path("keys/<id:key_id>/revoke/", api_keys.api_key_revoke, name="api-key-revoke"),
]

from django.urls import path, register_converter

from . import jobq_views, jobq_write_views, views, views_bulk, views_job, views_keys


class AnyIntConverter:
    """Digits of any length: out-of-range ids answer 404 in the view, not 500."""

    regex = "[0-9]+"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(AnyIntConverter, "id")

jobq_urlpatterns = [
    path("jobq/<id:project_id>/count", jobq_views.jobq_count, name="jobq-count"),
    path("jobq/<id:project_id>/list", jobq_views.jobq_list, name="jobq-list"),
    path("jobq/<id:project_id>/summary", jobq_views.jobq_summary, name="jobq-summary"),
    path("jobq/<id:project_id>/summary/<str:state>", jobq_views.jobq_summary, name="jobq-summary-state"),
    path(
        "jobq/<id:project_id>/<id:spider_number>/summary/<str:state>",
        jobq_views.jobq_spider_summary,
        name="jobq-spider-summary",
    ),
    path("jobq/<id:project_id>/jobsummary", jobq_views.jobq_jobsummary, name="jobq-jobsummary"),
    path("jobq/<id:project_id>/push", jobq_write_views.jobq_push, name="jobq-push"),
    path("jobq/<id:project_id>/startjob", jobq_write_views.jobq_startjob, name="jobq-startjob"),
    path("jobq/<id:project_id>/update", jobq_write_views.jobq_update, name="jobq-update"),
    path("jobq/<id:project_id>/cancel", jobq_write_views.jobq_cancel, name="jobq-cancel"),
    path(
        "jobq/<id:project_id>/<id:spider_number>/<id:job_number>/cancel",
        jobq_write_views.jobq_cancel_job,
        name="jobq-cancel-job",
    ),
    path(
        "jobs/<id:project_id>/<id:spider_number>/<id:job_number>",
        jobq_views.job_metadata,
        name="job-metadata",
    ),
    path(
        "jobs/<id:project_id>/<id:spider_number>/<id:job_number>/<str:field>",
        jobq_views.job_metadata,
        name="job-metadata-field",
    ),
    path("ids/<id:project_id>/spider/<str:name>", jobq_views.spider_id, name="spider-id"),
]

page_urlpatterns = [
    path("p/<id:project_id>/", views.job_list, name="job-list"),
    # The job list's partial and exports, with the list's filters.
    path("p/<id:project_id>/live", views.job_list_live, name="job-list-live"),
    path("p/<id:project_id>/chart", views.job_list_chart, name="job-list-chart"),
    path("p/<id:project_id>/tags", views.job_list_tags, name="job-list-tags"),
    path("p/<id:project_id>/export.csv", views.job_export_csv, name="job-export-csv"),
    path("p/<id:project_id>/export.jsonl", views.job_export_jsonl, name="job-export-jsonl"),
    path(
        "p/<id:project_id>/job/<id:spider_number>/<id:job_number>/",
        views_job.job_detail,
        name="job-detail",
    ),
    path(
        "p/<id:project_id>/job/<id:spider_number>/<id:job_number>/tags/",
        views_job.job_tags,
        name="job-tags",
    ),
    path("p/<id:project_id>/bulk/", views_bulk.bulk_action, name="bulk-action"),
    path("keys/", views_keys.api_keys, name="api-keys"),
    path("keys/<id:key_id>/revoke/", views_keys.api_key_revoke, name="api-key-revoke"),
]

"""The JobQ routes, spelled as JobQ spells them: no trailing slash."""

from django.urls import path

from .. import converters  # noqa: F401  (registers <id:…>)
from . import metadata, read, write

urlpatterns = [
    path("jobq/<id:project_id>/count", read.jobq_count, name="jobq-count"),
    path("jobq/<id:project_id>/list", read.jobq_list, name="jobq-list"),
    path("jobq/<id:project_id>/summary", read.jobq_summary, name="jobq-summary"),
    path("jobq/<id:project_id>/summary/<str:state>", read.jobq_summary, name="jobq-summary-state"),
    path(
        "jobq/<id:project_id>/<id:spider_number>/summary/<str:state>",
        read.jobq_spider_summary,
        name="jobq-spider-summary",
    ),
    path("jobq/<id:project_id>/jobsummary", read.jobq_jobsummary, name="jobq-jobsummary"),
    path("jobq/<id:project_id>/push", write.jobq_push, name="jobq-push"),
    path("jobq/<id:project_id>/startjob", write.jobq_startjob, name="jobq-startjob"),
    path("jobq/<id:project_id>/update", write.jobq_update, name="jobq-update"),
    path("jobq/<id:project_id>/cancel", write.jobq_cancel, name="jobq-cancel"),
    path(
        "jobq/<id:project_id>/<id:spider_number>/<id:job_number>/cancel",
        write.jobq_cancel_job,
        name="jobq-cancel-job",
    ),
    path(
        "jobs/<id:project_id>/<id:spider_number>/<id:job_number>",
        metadata.job_metadata,
        name="job-metadata",
    ),
    path(
        "jobs/<id:project_id>/<id:spider_number>/<id:job_number>/<str:field>",
        metadata.job_metadata,
        name="job-metadata-field",
    ),
    path("ids/<id:project_id>/spider/<str:name>", read.spider_id, name="spider-id"),
]

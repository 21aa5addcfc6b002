"""JobFilter as an object: what one instance holds is its own, although its
filters are copied shallowly and its form class and the form's fields are
shared (jobs/filters.py)."""

from django.http import QueryDict

from jobs.filters import JobFilter, ListParamsForm, PageJobFilter

from ..factories import add_jobs, job_line


def test_filters_alive_at_once_keep_their_own_values(project):
    add_jobs(
        job_line(spider="a", spider_number=1, number=1, state="running"),
        job_line(spider="b", spider_number=2, number=2, state="finished", tags=["t"]),
        job_line(spider="b", spider_number=2, number=3, state="finished"),
    )
    running = JobFilter({"state": ["running"], "spider": ["a"]}, project=project)
    tagged = JobFilter({"spider": ["b"], "has_tag": ["t"]}, project=project)
    assert running.is_valid() and tagged.is_valid()
    assert [job.key for job in running.qs] == ["53/1/1"]
    assert [job.key for job in tagged.qs] == ["53/2/2"]
    for name in ("spider", "state"):
        # A filter with a method finds it on its own FilterSet, not on the first one built.
        assert running.filters[name].parent is running
        assert tagged.filters[name].parent is tagged
        assert running.filters[name] is not JobFilter.base_filters[name]


def test_each_filter_class_validates_with_its_own_form(project):
    huge = QueryDict("startts=253402300800000")  # a 64-bit integer, but no date
    assert JobFilter(huge, project=project).is_valid()
    page = PageJobFilter(huge, project=project)
    assert not page.is_valid() and "startts" in page.form.errors
    assert type(JobFilter({}, project=project).form) is type(JobFilter(huge, project=project).form)
    assert type(page.form) is not type(JobFilter(huge, project=project).form)


def test_forms_share_their_fields_and_keep_their_own_values(project):
    first = JobFilter(QueryDict("state=running&startts=5"), project=project)
    second = JobFilter(QueryDict("state=deleted&startts=x"), project=project)
    assert first.form.fields["state"] is second.form.fields["state"]  # not copied per request
    assert first.is_valid() and not second.is_valid()
    assert first.form.cleaned_data["state"] == ["running"] and first.form.cleaned_data["startts"] == 5
    assert second.form.cleaned_data["state"] == ["deleted"] and "startts" in second.form.errors
    # The form of the next request sees none of this.
    assert (
        JobFilter(QueryDict(""), project=project).form.fields == JobFilter.get_form_class(first).base_fields
    )


def test_list_parameters_forms_share_their_fields(project):
    first, second = (
        ListParamsForm({"count": "5"}, project=project),
        ListParamsForm({"count": "-1"}, project=project),
    )
    assert first.fields["count"] is second.fields["count"]
    assert first.is_valid() and first.cleaned_data["count"] == 5
    assert not second.is_valid() and "count" in second.errors


def test_a_filter_reads_the_jobs_of_its_own_project_only(project, other_project):
    add_jobs(job_line(number=1, state="running"), job_line(number=2, tags=["t"]))
    add_jobs(
        job_line(project_id=54, number=1, state="running"), job_line(project_id=54, number=2, tags=["t"])
    )
    tagged = JobFilter(QueryDict("has_tag=t&state=finished&state=running"), project=project)
    assert tagged.is_valid()
    assert [job.key for job in tagged.qs] == ["53/1/2"]
    assert sorted(job.key for job in tagged.any_state_qs) == ["53/1/2"]
    assert tagged.count() == 1
    everything = JobFilter(QueryDict("state=running"), project=project)
    assert everything.is_valid() and [job.key for job in everything.qs] == ["53/1/1"]

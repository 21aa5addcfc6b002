"""The job's column types (jobs/fields.py): JSON read with orjson, and what
orjson refuses read the stock way."""

from jobs.models import Job

from ..factories import add_job


def test_json_columns_read_what_orjson_reads_and_what_it_refuses(project):
    add_job(spider_args={"category": "shoes", "pages": [1, 2]})
    job = Job.objects.get()
    assert job.spider_args == {"category": "shoes", "pages": [1, 2]}
    # An integer past 64 bits: orjson refuses it, Python's json does not.
    Job.objects.update(spider_args={"big": 2**70}, meta={"big": -(2**70), "ok": True})
    assert Job.objects.values("spider_args", "meta").get() == {
        "spider_args": {"big": 2**70},
        "meta": {"big": -(2**70), "ok": True},
    }

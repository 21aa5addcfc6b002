from .factories import add_job


def test_count_via_client(shub, project):
    add_job(tags=["tagA"])
    add_job(tags=["tagB"])
    jobs = shub.get_project(53).jobs
    assert jobs.count() == 2
    assert jobs.count(has_tag=["tagA", "tagB"]) == 2
    assert jobs.count(lacks_tag=["tagA", "tagB"]) == 0
    assert [j["tags"] for j in jobs.list()] == [["tagB"], ["tagA"]]

"""manage.py rebuild_health."""

import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job, SpiderHealth

from ..health_factories import history


def test_rebuilds_what_bulk_writes_left_out(project, capsys):
    history(runs=12, items=10)
    expected = SpiderHealth.objects.get().runs
    # Figures lost (say, jobs loaded around jobq): the command recomputes them.
    SpiderHealth.objects.all().delete()
    call_command("rebuild_health")
    assert "1 spider(s) rebuilt." in capsys.readouterr().out
    assert SpiderHealth.objects.get().runs == expected
    assert len(expected) == 12 and Job.objects.count() == 12


def test_one_project_or_a_clear_error(project, capsys):
    history(runs=3)
    call_command("rebuild_health", "--project", "53")
    assert "1 spider(s) rebuilt." in capsys.readouterr().out
    with pytest.raises(CommandError, match=r"There is no project 777\."):
        call_command("rebuild_health", "--project", "777")

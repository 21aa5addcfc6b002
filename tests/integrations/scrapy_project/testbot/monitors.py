"""The Spidermon suite of the `monitored` spider: unchanged Spidermon parts only."""

from spidermon import MonitorSuite
from spidermon.contrib.actions.jobs.tags import AddJobTags, RemoveJobTags
from spidermon.contrib.scrapy.monitors import ZyteJobsComparisonMonitor


class ComparisonSuite(MonitorSuite):
    monitors = [ZyteJobsComparisonMonitor]
    monitors_passed_actions = [RemoveJobTags]
    monitors_failed_actions = [AddJobTags]

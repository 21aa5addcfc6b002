"""The tests run as the local run does (JOBQ_LOCAL=1: a generated secret key,
loopback host names); everything else is jobqsite.settings itself."""

import os

os.environ.setdefault("JOBQ_LOCAL", "1")

from jobqsite.settings import *  # noqa: F403

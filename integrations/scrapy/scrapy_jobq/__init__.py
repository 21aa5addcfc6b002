"""Report Scrapy crawls to jobq, and run jobq's queue with Scrapy.

- `scrapy_jobq.JobqExtension`: the Scrapy extension (see extension.py);
- `jobq-worker`: the queue worker (see worker.py).
"""

__version__ = "0.1.0"

from .extension import JobqExtension

__all__ = ["JobqExtension", "__version__"]

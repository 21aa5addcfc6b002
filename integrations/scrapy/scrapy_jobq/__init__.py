"""Report Scrapy crawls to jobq: `scrapy_jobq.JobqExtension` (see extension.py)."""

__version__ = "0.1.0"

from .extension import JobqExtension

__all__ = ["JobqExtension", "__version__"]

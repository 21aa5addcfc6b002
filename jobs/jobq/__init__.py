"""The JobQ HTTP API, as Scrapy Cloud's clients speak it.

- `responses`, `errors`, `auth`, `bodies`: the plumbing every endpoint shares
  (JSON and JSON Lines answers, the error shape, API keys and rate limits,
  request bodies);
- `read`: count, list, summary, jobsummary, spider ids;
- `write`: push, startjob, update, cancel;
- `metadata`: one job's metadata, read and written (`/jobs/<key>`);
- `urls`: the routes, spelled as JobQ spells them (no trailing slash).
"""

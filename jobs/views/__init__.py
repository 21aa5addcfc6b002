"""The dashboard: pages for people who log in (the JobQ API is `jobs.jobq`).

Every view and partial checks access itself (`jobs.access`): htmx fetches
partials on their own, so a template is never the gatekeeper.
"""

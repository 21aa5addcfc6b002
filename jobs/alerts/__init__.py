"""Alerts: rules that watch a project's spiders (rules.py), the channels
that carry an alert (channels.py), its delivery with retries through
django.tasks (delivery.py, tasks.py) and the worker that runs deliveries and
evaluates the time-based rules (worker.py). docs/health.md tells the story."""

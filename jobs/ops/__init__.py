"""Running jobq: request logs, metrics, health, and who the client is."""

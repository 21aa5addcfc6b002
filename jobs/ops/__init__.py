"""Running jobq: request logs, metrics, health, who the client is, shared
limits in the cache, read replicas and retention."""

"""Admin endpoints: pool, cache, profiling, the full health summary, and /metrics.

Issue 12's status page (/api/health/dashboard) lands here."""

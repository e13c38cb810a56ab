"""The response cache, its invalidation (declared once) and the NOTIFY feed that keeps
every worker and instance coherent."""

"""Real database processes on one machine: PgBouncer, a streaming standby, the one-box topology."""

"""One module per job kind; each `run(job)` does its work and marks the job succeeded
in the transaction that stores its result."""

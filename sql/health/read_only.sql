-- Whether this session takes writes: false on a primary, true on a hot standby (a failover
-- that left the service on the demoted primary) or under default_transaction_read_only.
-- Parameters: none
SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean;

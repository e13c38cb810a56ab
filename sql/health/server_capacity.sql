-- The server's connection limits, to check that the pools of every worker fit.
-- Parameters: none
-- Returns: max_connections, reserved (superuser + reserved_connections slots),
--          connections (open backends now, all databases)
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int
         + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS connections;

-- The server's version string (the benchmark reports it).
-- Parameters: none
SELECT current_setting('server_version');

-- Liveness of the database connection.
-- Parameters: none
SELECT 1;

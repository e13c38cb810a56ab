-- Forget an attempt the cap refused: a refused attempt is not counted, so an address
-- that keeps trying is free again when its counted attempts leave the window.
-- Parameters:
--   $1 id bigint: the attempt's row (record.sql)
DELETE FROM register_attempts
WHERE id = $1;

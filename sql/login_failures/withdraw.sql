-- Forget an attempt the throttle refused (recorded by record.sql before the check): a
-- throttled attempt is not counted, so an owner locked out by someone else is free
-- again when the window passes, however long the other keeps trying.
-- Parameters:
--   $1 id bigint: the attempt's row (record.sql)
DELETE FROM login_failures
WHERE id = $1;

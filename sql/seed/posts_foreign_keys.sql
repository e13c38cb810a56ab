-- The posts table's foreign keys, with their definitions: a bulk load drops them and
-- adds them back afterwards (one validating join instead of a check per row).
-- Parameters: none
SELECT conname AS name, pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE conrelid = 'posts'::regclass
  AND contype = 'f'
ORDER BY 1;

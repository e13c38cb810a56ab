-- The posts table's indexes other than its primary key, with their definitions:
-- a bulk load drops them, COPYs, and builds them again from these definitions.
-- Parameters: none
SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
FROM pg_index
WHERE indrelid = 'posts'::regclass
  AND NOT indisprimary
ORDER BY 1;

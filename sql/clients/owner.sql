-- The owner of a client the caller may see (a new project takes it over).
-- Parameters:
--   $1 id       uuid
--   $2 owner_id uuid: the caller's id, or NULL for an admin
SELECT owner_id
FROM clients
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2);

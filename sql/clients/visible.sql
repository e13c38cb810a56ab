-- Whether the caller may see a client (a client_id filter is 404 otherwise).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2));

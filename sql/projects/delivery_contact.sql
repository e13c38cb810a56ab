-- Who to tell when a project is delivered: its current status (the row is locked
-- until the transaction ends, so two concurrent PATCHes cannot both see the change),
-- its name, owner, and its client's name and email.
-- Parameters:
--   $1 id uuid
SELECT p.status, p.name AS project_name, p.owner_id, c.name AS client_name, c.email AS client_email
FROM projects AS p
JOIN clients AS c ON c.id = p.client_id
WHERE p.id = $1
FOR UPDATE OF p;

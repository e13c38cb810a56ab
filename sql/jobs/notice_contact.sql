-- A delivery notice's recipient as it is when the notice is sent (not when the project
-- was delivered): a notice retried after the owner corrected the client's email goes to
-- the corrected address, and none goes out once the client has no email. No row lock
-- (sql/projects/delivery_contact.sql takes one for the PATCH).
-- Parameters:
--   $1 project_id uuid
SELECT p.name AS project_name, c.name AS client_name, c.email AS client_email
FROM projects AS p
JOIN clients AS c ON c.id = p.client_id
WHERE p.id = $1;

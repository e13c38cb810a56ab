-- A delivery notice's recipient and project as they are when the notice is sent (not when
-- the project was delivered): a notice retried after the owner corrected the client's
-- email goes to the corrected address, none goes out once the client has no email, and
-- none once the project is no longer delivered (reopened while the notice was queued).
-- FOR SHARE: a PATCH delivering the project again (sql/projects/delivery_contact.sql
-- locks the row FOR UPDATE) either commits first, and the notice sees it delivered, or
-- waits until this job has given up its key (release_notice_key.sql) and enqueues anew.
-- Parameters:
--   $1 project_id uuid
SELECT p.name AS project_name, p.status AS project_status, c.name AS client_name, c.email AS client_email
FROM projects AS p
JOIN clients AS c ON c.id = p.client_id
WHERE p.id = $1
FOR SHARE OF p;

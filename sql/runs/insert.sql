-- Start a run record for a project; owner_id is the project's owner.
-- Parameters:
--   $1 owner_id uuid, $2 project_id uuid, $3 is_batch boolean (NULL: false),
--   $4 status text (NULL: pending), $5 logs jsonb (NULL: []), $6 error_message text
INSERT INTO runs (owner_id, project_id, is_batch, status, logs, error_message, started_at)
VALUES ($1, $2, coalesce($3, false), coalesce($4, 'pending'), coalesce($5::jsonb, '[]'), $6,
        CASE WHEN coalesce($4, 'pending') <> 'pending' THEN clock_timestamp() END)
RETURNING id, project_id, is_batch, status, started_at, completed_at, logs, error_message,
          created_at, updated_at;

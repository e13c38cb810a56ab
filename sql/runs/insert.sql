-- Start a run record for a project; owner_id is the project's owner.
-- Parameters:
--   $1 owner_id uuid, $2 project_id uuid, $3 is_batch boolean (NULL: false),
--   $4 status text (NULL: pending), $5 logs jsonb (NULL: []), $6 error_message text
-- One clock reading stamps created_at, updated_at, a started_at (a run created past
-- pending) and a completed_at (created succeeded or failed, as runs/update.sql stamps
-- it; see clients/insert.sql).
WITH clock AS (SELECT clock_timestamp() AS at)
INSERT INTO runs (owner_id, project_id, is_batch, status, logs, error_message, started_at,
                  completed_at, created_at, updated_at)
VALUES ($1, $2, coalesce($3, false), coalesce($4, 'pending'), coalesce($5::jsonb, '[]'), $6,
        CASE WHEN coalesce($4, 'pending') <> 'pending' THEN (SELECT at FROM clock) END,
        CASE WHEN $4 IN ('succeeded', 'failed') THEN (SELECT at FROM clock) END,
        (SELECT at FROM clock), (SELECT at FROM clock))
RETURNING id, project_id, is_batch, status, started_at, completed_at, logs, error_message,
          created_at, updated_at;

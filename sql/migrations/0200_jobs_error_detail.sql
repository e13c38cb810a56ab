-- A failed attempt's full error text for operators, beside the one its owner reads.
--
-- Why: `error` is shown to the job's owner (GET /api/jobs/{id}), and held the exception's
-- own text, whatever it quoted: a lost database connection named the server's host and
-- port, a bug its internals. Now `error` says only what is the owner's business (a
-- failure written for them, a server's reply to their notice, a timeout, else the
-- exception's class), and this column keeps the whole text for /api/health/jobs and the
-- log. NULL for errors recorded before, and for errors that are whole in `error`.
ALTER TABLE jobs ADD COLUMN error_detail text;

-- Failed logins, for throttling (service/auth/throttle.py): one row per failure, by
-- normalized email and by client address. Kept in PostgreSQL so that every worker and
-- every instance counts the same failures. Rows older than LOGIN_WINDOW_S no longer
-- count; sql/login_failures/record.sql deletes them as it adds a new one, and a
-- successful login deletes its email's rows.
CREATE TABLE login_failures (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_normalized text        NOT NULL CHECK (length(email_normalized) <= 320),
    address          text        NOT NULL CHECK (length(address) <= 64),
    at               timestamptz NOT NULL DEFAULT now()
);

-- "The Nth newest failure of this email / this address within the window": one
-- backward range scan each.
CREATE INDEX login_failures_email_at_idx ON login_failures (email_normalized, at);
CREATE INDEX login_failures_address_at_idx ON login_failures (address, at);
-- Pruning: the expired rows are the head of this index.
CREATE INDEX login_failures_at_idx ON login_failures (at);

-- Registrations, for the cap per client address (service/auth/throttle.py, README
-- "Login throttling and passwords"): one row per attempt that reached the password
-- hash, recorded before it, by client address. Kept in PostgreSQL so that every worker
-- and every instance counts the same attempts. Rows older than REGISTER_WINDOW_S no
-- longer count; sql/register_attempts/record.sql deletes them as it adds a new one, and
-- an attempt refused by the cap deletes its own row (it is not counted).
CREATE TABLE register_attempts (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address text        NOT NULL CHECK (length(address) <= 64),
    at      timestamptz NOT NULL DEFAULT now()
);

-- "The Nth newest attempt from this address within the window": one backward range scan.
CREATE INDEX register_attempts_address_at_idx ON register_attempts (address, at);
-- Pruning: the expired rows are the head of this index.
CREATE INDEX register_attempts_at_idx ON register_attempts (at);

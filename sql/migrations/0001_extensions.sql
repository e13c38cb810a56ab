-- pg_trgm serves the case-insensitive "part of the text" searches (ILIKE '%x%')
-- from GIN indexes. It is a trusted extension (PostgreSQL 13+): a database owner
-- may create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

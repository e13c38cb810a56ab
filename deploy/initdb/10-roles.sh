#!/bin/sh
# Runs once, when the postgres container initialises an empty volume, as the
# container's superuser (POSTGRES_USER). Creates the service's two roles and its
# database (README "Database roles"):
#   jumpstart_owner  owns the database and schema; `run.py migrate` connects as it
#   jumpstart_app    serves: rows of the application's tables only (the owner's grants)
# Neither is a superuser, nor may create roles or databases.
set -eu
: "${JUMPSTART_OWNER_PASSWORD:?set it in deploy/.env}"
: "${JUMPSTART_APP_PASSWORD:?set it in deploy/.env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v owner_password="$JUMPSTART_OWNER_PASSWORD" -v app_password="$JUMPSTART_APP_PASSWORD" <<'SQL'
CREATE ROLE jumpstart_owner LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'owner_password';
CREATE ROLE jumpstart_app LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'app_password';
CREATE DATABASE jumpstart OWNER jumpstart_owner;
-- PostgreSQL 15+ gives PUBLIC no CREATE on schema public; say it for older servers too.
\connect jumpstart
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL

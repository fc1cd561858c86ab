#!/bin/sh
# Run once by the postgres image when it creates the database (docker-entrypoint-initdb.d):
# the app's own role, tipline_app, which may read and write rows and nothing else. The owner
# (POSTGRES_USER, a superuser) is used by `migrate` alone; the web sites and the workers, which
# parse hostile files, connect as tipline_app (a superuser could run programs on the database
# server: COPY ... TO PROGRAM).
set -eu
password=$(cat "${APP_DB_PASSWORD_FILE:-/run/secrets/app_db_password}")
psql -v ON_ERROR_STOP=1 -v password="$password" -v owner="$POSTGRES_USER" \
     -v database="$POSTGRES_DB" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE tipline_app LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
GRANT CONNECT ON DATABASE :"database" TO tipline_app;
GRANT USAGE ON SCHEMA public TO tipline_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tipline_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO tipline_app;
SQL

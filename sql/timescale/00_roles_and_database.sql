-- Roles and database, run against the 'postgres' database by apply.sh (psql variables db,
-- writer_user, reader_user) as a superuser, or on a managed PostgreSQL as the owner role
-- the provider hands out (CREATEROLE and CREATEDB, no superuser). Passwords come from the
-- environment (.env), never from a file in git; re-running re-applies them, so a rotation
-- takes effect.
\getenv writer_password LCM_WRITER_PASSWORD
\getenv reader_password LCM_READER_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'writer_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'writer_user') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'reader_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'reader_user') \gexec

SELECT rolsuper AS lcm_superuser FROM pg_roles WHERE rolname = current_user \gset
\if :lcm_superuser
ALTER ROLE :"writer_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'writer_password';
ALTER ROLE :"reader_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'reader_password';
\else
-- Only a superuser may name the SUPERUSER attribute at all, even to deny it; a role that
-- a non-superuser creates can never be one, so nothing is lost by leaving it out.
\warn 'apply.sh: notice: not a superuser (a managed PostgreSQL?): skipping NOSUPERUSER on the app roles, which cannot be superusers anyway'
ALTER ROLE :"writer_user" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'writer_password';
ALTER ROLE :"reader_user" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'reader_password';
\endif
-- Dashboards only read, and a runaway panel query must not hold the database. These two are
-- session defaults the reader may lift (PostgreSQL lets any session SET them): what stops
-- its writes is the privileges (every_run/20_grants.sql); what bounds what a reader who
-- lifts the timeout can hold is the connection limit (Grafana keeps to 20, make report 1).
ALTER ROLE :"reader_user" SET default_transaction_read_only = on;
ALTER ROLE :"reader_user" SET statement_timeout = '30s';
ALTER ROLE :"reader_user" CONNECTION LIMIT 30;

SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec

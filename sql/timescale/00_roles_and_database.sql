-- Roles and database, run as a superuser against the 'postgres' database with psql:
--   psql -v db=lcm -v writer_user=... -v writer_password=... -v reader_user=... -v reader_password=...
-- Passwords come in as psql variables from the environment (.env), never from a file in git.
-- Re-running it re-applies the passwords, so rotating one in .env takes effect here.
SELECT format('CREATE ROLE %I LOGIN', :'writer_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'writer_user') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'reader_user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'reader_user') \gexec

ALTER ROLE :"writer_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'writer_password';
ALTER ROLE :"reader_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'reader_password';
-- Dashboards only read, and a runaway panel query must not hold the database.
ALTER ROLE :"reader_user" SET default_transaction_read_only = on;
ALTER ROLE :"reader_user" SET statement_timeout = '30s';

SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec

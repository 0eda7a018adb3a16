-- Least privilege, run on every apply as the owner (a superuser, or a managed PostgreSQL's
-- owner role) in the project database
-- with psql variables db, writer_user and reader_user, after the migrations, so new tables
-- and rollups are always covered.
-- The writer (Flink JDBC sink, ingest) may select, insert and update the tables it feeds
-- (the upsert needs all three) but not delete, truncate, change the schema, touch the
-- migration records or the stored rollups, or create anything, temporary tables included.
-- The reader (Grafana, make report) may only select: tables, rollup views and continuous
-- aggregates; its login also defaults to read-only transactions with a statement timeout
-- (00_roles_and_database.sql).
-- Taking rights from PUBLIC on the database and its public schema needs their owner (or a
-- superuser); a managed PostgreSQL may hand out a database someone else owns: then the
-- provider's defaults stay, with a notice.
SELECT r.rolsuper OR pg_has_role(current_user, d.datdba, 'USAGE') AS lcm_db_owner
FROM pg_database d, pg_roles r WHERE d.datname = :'db' AND r.rolname = current_user \gset
\if :lcm_db_owner
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE TEMPORARY ON DATABASE :"db" FROM PUBLIC;
\else
\warn 'apply.sh: notice: not the owner of the database: skipping REVOKE ... FROM PUBLIC on it and its public schema'
\endif
GRANT USAGE ON SCHEMA public TO :"writer_user", :"reader_user";
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"writer_user", :"reader_user";

SELECT format('GRANT SELECT, INSERT, UPDATE ON %I TO %I', c.relname, :'writer_user')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations'
  AND c.relname NOT LIKE 'rollup\_store\_%'  -- kept by triggers (06_rollups_plain_maintained.sql)
ORDER BY c.relname \gexec

GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader_user";

-- Least privilege, run on every apply as the owner (superuser) in the project database
-- with psql variables db, writer_user and reader_user, after the migrations, so new tables
-- and rollups are always covered.
-- The writer (Flink JDBC sink, ingest) may select, insert and update the tables it feeds
-- (the upsert needs all three) but not delete, truncate, change the schema, touch the
-- migration records or the stored rollups, or create anything, temporary tables included.
-- The reader (Grafana, make report) may only select: tables, rollup views and continuous
-- aggregates; its login also defaults to read-only transactions with a statement timeout
-- (00_roles_and_database.sql).
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE TEMPORARY ON DATABASE :"db" FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"writer_user", :"reader_user";
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"writer_user", :"reader_user";

SELECT format('GRANT SELECT, INSERT, UPDATE ON %I TO %I', c.relname, :'writer_user')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations'
  AND c.relname NOT LIKE 'rollup\_store\_%'  -- kept by triggers (06_rollups_plain_maintained.sql)
ORDER BY c.relname \gexec

GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader_user";

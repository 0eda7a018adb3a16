-- Least privilege, run as the owner (superuser) in the project database with psql vars
-- writer_user and reader_user. The writer may insert and update (the JDBC upsert) but not
-- delete, truncate or change the schema; the reader may only select.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"writer_user", :"reader_user";
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"writer_user", :"reader_user";
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO :"writer_user";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader_user";

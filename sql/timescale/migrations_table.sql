-- The version table of the migrations in this directory (run by apply.sh before them).
-- One row per applied migration file: its number, name, the sha256 of the file as applied
-- (apply.sh refuses to go on when a file changed afterwards) and the branch it ran on
-- ('timescaledb' or 'plain'; a database stays on the branch it was created with).
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL UNIQUE,
  checksum   text        NOT NULL,
  variant    text        NOT NULL CHECK (variant IN ('timescaledb', 'plain')),
  applied_at timestamptz NOT NULL DEFAULT now()
);

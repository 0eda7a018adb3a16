#!/usr/bin/env bash
# Apply sql/timescale/ to a PostgreSQL/TimescaleDB server, idempotently: roles and the
# database (00), then tables, TimescaleDB features where available, grants (01..09).
# Usage: apply.sh [DATABASE]   (default $LCM_DB or lcm)
# Connects as a superuser through the standard PG* variables (PGHOST, PGPORT, PGUSER,
# PGPASSWORD). Role names and passwords come from LCM_* variables; psql reads the
# passwords itself with \getenv, so they never appear on a command line.
# Used by stack/postgres.sh (native) and by the db-init service of docker-compose.yml.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
db="${1:-${LCM_DB:-lcm}}"
: "${LCM_WRITER_PASSWORD:?is not set (make setup writes it to .env)}"
: "${LCM_READER_PASSWORD:?is not set (make setup writes it to .env)}"
psql=(psql -X -q -v ON_ERROR_STOP=1 -v db="$db"
      -v writer_user="${LCM_WRITER_USER:-lcm_writer}" -v reader_user="${LCM_READER_USER:-lcm_reader}")

"${psql[@]}" -d postgres -f "$dir/00_roles_and_database.sql"
for f in "$dir"/0[1-9]_*.sql; do
  "${psql[@]}" -d "$db" -f "$f" 2>&1 | { grep -v "NOTICE:" || true; }
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "applying $(basename "$f") to $db failed" >&2; exit 1; }
done
echo "schema ready in database $db"

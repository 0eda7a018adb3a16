#!/usr/bin/env bash
# Apply sql/timescale/ to a PostgreSQL or TimescaleDB server: the one migration command
# (`make db-init`, stack/postgres.sh init, the db-init service of docker-compose.yml).
#
# Usage: apply.sh [--reapply-changed] [DATABASE]      (default database: $LCM_DB or lcm)
#
# Order of work, each step idempotent:
#   1. 00_roles_and_database.sql, in the 'postgres' database: roles, passwords, database.
#   2. migrations_table.sql: the version table schema_migrations.
#   3. The migrations NN_*.sql (01..99) in name order, each applied once and recorded with
#      the sha256 of the file. A database keeps the branch (timescaledb or plain) it was
#      created with; a new one gets timescaledb when the server has the extension
#      (LCM_TIMESCALE=off forces plain).
#   4. every_run/*.sql in name order: policies from settings and grants, which depend on
#      the environment rather than on the schema history.
#
# A migration file that changed after it was applied is an error naming the file: nothing
# is applied; put the change in a new migration file. After reviewing that re-running the
# changed file is right (every file here is written to be re-runnable), --reapply-changed
# runs it again and records its new checksum. A reviewed edit that changes nothing a
# database sees (a comment) is listed in revisions.txt (file, earlier checksum, current
# checksum): a database that recorded the earlier one gets the current one recorded,
# without running the file again.
#
# Connects through the standard PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
# PGSSLMODE) as a superuser, or on a managed PostgreSQL (RDS, Cloud SQL, Azure, Timescale
# Cloud) as the owner role it hands out (CREATEROLE and CREATEDB, no superuser): the
# statements only a superuser may run are then skipped with a notice on stderr. Role names and passwords come from LCM_* variables; psql reads the
# passwords itself with \getenv, so they never appear on a command line. Settings (see
# .env.example): LCM_COMPRESS_AFTER, LCM_RETAIN_RAW, LCM_RETAIN_ROLLUPS.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"

reapply=0
db=""
for arg in "$@"; do
  case "$arg" in
    --reapply-changed) reapply=1 ;;
    -*) echo "apply.sh: unknown option $arg (usage: apply.sh [--reapply-changed] [DATABASE])" >&2; exit 2 ;;
    *) db="$arg" ;;
  esac
done
db="${db:-${LCM_DB:-lcm}}"
: "${LCM_WRITER_PASSWORD:?is not set (make setup writes it to .env)}"
: "${LCM_READER_PASSWORD:?is not set (make setup writes it to .env)}"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

psql=(psql -X -q -v ON_ERROR_STOP=1 -v db="$db"
      -v writer_user="${LCM_WRITER_USER:-lcm_writer}" -v reader_user="${LCM_READER_USER:-lcm_reader}")
in_db=("${psql[@]}" -d "$db")
query() { "${in_db[@]}" -tA "$@"; }  # SQL on stdin; psql variables are substituted there

fail() { echo "apply.sh: $*" >&2; exit 1; }

"${psql[@]}" -d postgres -f "$dir/00_roles_and_database.sql" >/dev/null \
  || fail "creating roles and database $db (00_roles_and_database.sql) failed"
"${in_db[@]}" -f "$dir/migrations_table.sql" >/dev/null \
  || fail "creating schema_migrations in $db failed"

variant=$(query <<<"SELECT variant FROM schema_migrations ORDER BY version LIMIT 1")
if [[ -z "$variant" ]]; then
  available=$(query <<<"SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
  if [[ "$available" == 1 && "${LCM_TIMESCALE:-on}" != off ]]; then variant=timescaledb; else variant=plain; fi
fi
timescale=$([[ "$variant" == timescaledb ]] && echo on || echo off)

declare -A recorded=() recorded_at=() seen=() revised=()
while read -r name earlier current _; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  revised[$name:$earlier]=$current
done < <(cat "$dir/revisions.txt" 2>/dev/null || true)

# The checksum a recorded one was revised into (revisions.txt, followed through every
# revision), or the recorded one.
revision_of() {
  local name=$1 sum=$2 n
  for ((n = 0; n < 100; n++)); do
    [[ -n "${revised[$name:$sum]+set}" ]] || break
    sum=${revised[$name:$sum]}
  done
  echo "$sum"
}

while IFS='|' read -r name checksum applied_at; do
  [[ -n "$name" ]] && recorded[$name]=$checksum && recorded_at[$name]=$applied_at
done < <(query <<<"SELECT name, checksum, applied_at FROM schema_migrations ORDER BY version")

# Check every file before applying any.
todo=()
changed=()
relabel=()
for f in "$dir"/[0-9][0-9]_*.sql; do
  name=$(basename "$f")
  [[ "$name" == 00_* ]] && continue
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  if [[ -z "${recorded[$name]+set}" ]]; then
    todo+=("$f")
  elif [[ "${recorded[$name]}" != "$sum" ]]; then
    if [[ "$(revision_of "$name" "${recorded[$name]}")" == "$sum" ]]; then
      relabel+=("$name")
    else
      changed+=("$name")
      todo+=("$f")
    fi
  fi
  seen[$name]=1
done
for name in "${!recorded[@]}"; do
  [[ -n "${seen[$name]+set}" ]] && continue
  echo "apply.sh: warning: migration $name is recorded in $db but its file is gone" >&2
done
if [[ ${#changed[@]} -gt 0 && $reapply -eq 0 ]]; then
  for name in "${changed[@]}"; do
    echo "apply.sh: migration $name changed after it was applied to $db on ${recorded_at[$name]}" \
         "(recorded sha256 ${recorded[$name]:0:12}..., file now $(sha256sum "$dir/$name" | cut -c1-12)...)" >&2
  done
  fail "nothing applied. Put schema changes in a new migration file; if re-running the changed" \
       "file is right, run: apply.sh --reapply-changed $db"
fi

for name in "${relabel[@]}"; do
  query -v name="$name" -v checksum="$(sha256sum "$dir/$name" | cut -d' ' -f1)" >/dev/null <<'SQL' \
    || fail "recording the revised checksum of $name in $db failed"
UPDATE schema_migrations SET checksum = :'checksum' WHERE name = :'name';
SQL
  echo "apply.sh: $name: a reviewed revision of the applied file (revisions.txt); its new checksum is recorded, the file is not run again"
done

for f in "${todo[@]}"; do
  name=$(basename "$f")
  "${in_db[@]}" -v timescale="$timescale" -f "$f" >/dev/null || fail "migration $name failed on $db"
  # Recorded after it ran: a migration that fails half-way is not recorded and runs again
  # on the next apply (the files are re-runnable; cagg creation cannot be in a transaction).
  query -v version="$((10#${name%%_*}))" -v name="$name" -v variant="$variant" \
        -v checksum="$(sha256sum "$f" | cut -d' ' -f1)" >/dev/null <<'SQL' \
    || fail "recording migration $name in $db failed"
INSERT INTO schema_migrations (version, name, checksum, variant)
VALUES (:'version', :'name', :'checksum', :'variant')
ON CONFLICT (version) DO UPDATE
SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, applied_at = now();
SQL
done

for f in "$dir"/every_run/*.sql; do
  "${in_db[@]}" -v timescale="$timescale" \
    -v compress_after="${LCM_COMPRESS_AFTER:-7d}" -v retain_raw="${LCM_RETAIN_RAW:-90d}" \
    -v retain_rollups="${LCM_RETAIN_ROLLUPS:-365d}" -f "$f" >/dev/null \
    || fail "every_run/$(basename "$f") failed on $db"
done
echo "schema ready in database $db ($variant): ${#todo[@]} migration(s) applied"

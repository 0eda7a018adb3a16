#!/usr/bin/env bash
# Project-local PostgreSQL server from the system packages (Debian's postgresql-NN).
# The cluster lives in .state/postgres, listens on 127.0.0.1:$PGPORT, and the superuser
# logs in only over the local socket (peer auth); apps use password roles (scram).
# Usage: stack/postgres.sh prepare | run (foreground, the supervisor's command) | start | stop
#        | status | init [DB] | psql DB | dropdb DB
source "$(dirname "$0")/common.sh"

PGDATA="$STATE_DIR/postgres/data"
SOCK="$STATE_DIR/postgres/run"
LOG="$STATE_DIR/postgres/postgres.log"

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/pg_ctl" ]] && echo "$d"; done | sort -V | tail -1
}
BIN="$(pg_bin)"

# PostgreSQL refuses to run as root: as root, run its tools as the 'postgres' user.
as_pg() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Create the cluster once (as 'postgres' when root): before the supervisor starts it.
prepare() {
  [[ -n "$BIN" ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql; run 'make setup' (installs the Debian package postgresql)."
  mkdir -p "$STATE_DIR/postgres" "$SOCK"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$STATE_DIR/postgres" "$SOCK"; fi
  chmod 700 "$SOCK"  # the socket directory: the server's user only
  if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
    log "initialising cluster in $PGDATA"
    as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$STATE_DIR/postgres/initdb.log" 2>&1 \
      || die "initdb failed; see $STATE_DIR/postgres/initdb.log"
  fi
}

# The server in the foreground: the supervisor's command (as 'postgres' when root).
# synchronous_commit stays on (the default): the JDBC sinks commit on every Flink
# checkpoint, and a checkpoint must never cover rows that a database crash could still
# lose (with it off, the last ~0.6 s of commits can vanish in a crash).
run() {
  [[ -f "$PGDATA/PG_VERSION" ]] || die "no cluster in $PGDATA; run 'make up'."
  ensure_port_free "$PGPORT" PostgreSQL PGPORT
  exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses="${LCM_BIND}" -p "${PGPORT}" \
    -k "${SOCK}" -c unix_socket_permissions=0700 -c shared_buffers=256MB \
    -c max_connections=200 -c timezone=UTC
}

ready() { as_pg "$BIN/pg_isready" -q -h "$SOCK" -p "$PGPORT" 2>/dev/null; }

start() {
  supervised || die "the supervisor is not running; start the stack with 'make up'."
  "$REPO_DIR/stack/supervise.sh" ctl start postgres >/dev/null || true
  for _ in $(seq 120); do ready && { log "ready on ${LCM_BIND}:${PGPORT}"; return; }; sleep 0.5; done
  die "PostgreSQL did not start; see $LOG"
}

stop() {
  [[ -n "$BIN" && -f "$PGDATA/PG_VERSION" ]] || return 0
  if supervised; then "$REPO_DIR/stack/supervise.sh" ctl stop postgres >/dev/null || true; fi
  if as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then  # started by hand
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null && log "stopped"
  fi
}

status() {
  if [[ -n "$BIN" ]] && as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    echo "postgres  up    ${LCM_BIND}:${PGPORT}  db=${LCM_DB}"
  else echo "postgres  down"; fi
}

# Roles, database, migrations, policies and grants from sql/timescale/apply.sh, as the
# superuser over the project socket. Idempotent: safe on every `make up`.
# Usage: init [DATABASE] [--reapply-changed]   (see sql/timescale/apply.sh)
init() {
  as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1 || die "PostgreSQL is not running; run 'make up'."
  export PGHOST="$SOCK" PGPORT PGUSER=postgres PATH="$BIN:$PATH" LCM_DB LCM_WRITER_PASSWORD LCM_READER_PASSWORD
  local out
  out=$(as_pg "$REPO_DIR/sql/timescale/apply.sh" "$@") || die "applying sql/timescale/ failed (see above)"
  log "${out##*$'\n'}"
}

# psql as the superuser over the project socket, for maintenance of a throwaway database
# (bench.storage runs ANALYZE with it). Usage: psql DATABASE [PSQL ARGS...]
psql() {
  as_pg "$BIN/psql" -h "$SOCK" -p "$PGPORT" -U postgres -X -q -v ON_ERROR_STOP=1 -d "$@"
}

# Drop a database (tests use throwaway ones).
dropdb() {
  as_pg "$BIN/psql" -h "$SOCK" -p "$PGPORT" -U postgres -X -q -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)"
}

"${1:-status}" "${@:2}"

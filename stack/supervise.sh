#!/usr/bin/env bash
# The native stack under supervision, without a person: supervisord (from the project's
# virtualenv, so it works on any machine, systemd or not) runs Kafka, PostgreSQL, the Flink
# JobManager and TaskManager and the job keeper, each in the foreground, and restarts any
# that exits. The job keeper (flink_jobs/keeper.py) brings the jobs submitted with
# stack/job.sh back from their latest retained checkpoint after a JobManager restart.
# `ingest` (python -m ingest all) and `notifier` are defined too, started on request.
# The control socket is readable by its owner only.
# Usage: stack/supervise.sh start | stop | status | ctl SUPERVISORCTL-ARGS...
source "$(dirname "$0")/common.sh"

SDIR="$STATE_DIR/supervisor"
CONF="$SDIR/supervisord.conf"
SOCK="$SDIR/supervisor.sock"
SLOG="$SDIR/supervisord.log"

# Programs that run as the project's service user when the stack is started as root
# (stack/common.sh service_user); PostgreSQL runs as 'postgres', as it demands.
program() {  # program NAME COMMAND [extra lines...]
  local name=$1 cmd=$2; shift 2
  cat <<CONF

[program:$name]
command=$cmd
directory=$REPO_DIR
autorestart=true
startsecs=5
startretries=1000
stopwaitsecs=60
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$SDIR/log/$name.log
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=3
CONF
  local line
  for line in "$@"; do echo "$line"; done
}

write_conf() {
  mkdir -p "$SDIR/log" "$SDIR/conf.d"
  chmod 700 "$SDIR"
  local pg_user="" svc_user=""
  if [[ $EUID -eq 0 ]]; then
    pg_user="user=postgres"
    svc_user="user=$(service_user)"
  fi
  {
    cat <<CONF
; Written by stack/supervise.sh on every start; edit that script, not this file.
[unix_http_server]
file=$SOCK
chmod=0700

[supervisord]
logfile=$SLOG
logfile_maxbytes=10MB
logfile_backups=3
pidfile=$SDIR/supervisord.pid
childlogdir=$SDIR/log
identifier=lcm-$(basename "$REPO_DIR")

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$SOCK
CONF
    program kafka "$REPO_DIR/stack/kafka.sh run" "$svc_user" "priority=10"
    program postgres "$REPO_DIR/stack/postgres.sh run" "$pg_user" "priority=10" \
      "stopsignal=INT"  # fast shutdown: ends sessions, checkpoints, exits
    program jobmanager "$REPO_DIR/stack/flink.sh run jobmanager" "$svc_user" "priority=20"
    program taskmanager "$REPO_DIR/stack/flink.sh run taskmanager" "$svc_user" "priority=30"
    program jobkeeper "$PY -m flink_jobs.keeper" "priority=40"
    program ingest "$PY -m ingest all" "autostart=false" "priority=50"
    program notifier "$PY -m notifier" "autostart=false" "priority=50"
    printf '\n[include]\nfiles = %s/conf.d/*.conf\n' "$SDIR"
  } >"$CONF"
}

ctl() { "$VENV/bin/supervisorctl" -c "$CONF" "$@"; }

running() { [[ -S "$SOCK" ]] && ctl pid >/dev/null 2>&1; }

start() {
  [[ -x "$VENV/bin/supervisord" ]] || die "supervisord missing in $VENV; run 'make setup'."
  write_conf
  if running; then
    ctl reread >/dev/null
    ctl update >/dev/null  # programs whose definition changed are restarted
    ctl start kafka postgres jobmanager taskmanager jobkeeper >/dev/null || true
    log "supervisor already running; programs started"
    return
  fi
  "$VENV/bin/supervisord" -c "$CONF" || die "supervisord did not start; see $SLOG"
  for _ in $(seq 60); do running && { log "supervisor running (log: $SLOG)"; return; }; sleep 0.5; done
  die "supervisord did not open $SOCK; see $SLOG"
}

stop() {
  running || return 0
  ctl stop all >/dev/null || true
  local pid; pid=$(ctl pid)
  ctl shutdown >/dev/null || true
  for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  log "stopped"
}

# What runs, since when, and what was restarted and when (from supervisord's own log).
status() {
  if ! running; then echo "supervisor down  (make up starts it)"; return 3; fi
  printf '%-12s %-9s %-42s %s\n' program state "since / detail" "restarts (not expected exits)"
  local line name state rest restarts
  while read -r name state rest; do
    [[ -n "$name" ]] || continue
    restarts=$("$PY" - "$SLOG" "$name" <<'PY'
import re, sys
log, name = sys.argv[1], sys.argv[2]
found = []
for path in (log + ".1", log):
    try:
        for line in open(path, encoding="utf-8", errors="replace"):
            m = re.match(r"(\S+ \S+),\d+ \w+ exited: (\S+) \((.*); not expected\)", line)
            if m and m.group(2) == name:
                found.append((m.group(1), m.group(3)))
    except OSError:
        pass
print(f"{len(found)}, last {found[-1][0]} ({found[-1][1]})" if found else "0")
PY
)
    printf '%-12s %-9s %-42s %s\n' "$name" "$state" "${rest:0:42}" "$restarts"
  done < <(ctl status 2>/dev/null)
}

"${1:-status}" "${@:2}"

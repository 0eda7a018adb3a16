#!/usr/bin/env bash
# Flink standalone cluster (one JobManager, one TaskManager, each run by the supervisor,
# stack/supervise.sh) from the distribution
# inside the apache-flink wheel, configured from flink-conf/. The wheel stays untouched:
# the effective conf dir and a lib dir (wheel jars + pinned connectors) live in .state/flink.
# Usage: stack/flink.sh prepare | run jobmanager|taskmanager (foreground, the supervisor's
#        commands) | start | stop | status
source "$(dirname "$0")/common.sh"

FDIR="$STATE_DIR/flink"
export FLINK_CONF_DIR="$FDIR/conf" FLINK_LIB_DIR="$FDIR/lib"

prepare() {
  local home; home=$(flink_home)
  mkdir -p "$FLINK_CONF_DIR" "$FLINK_LIB_DIR" "$FDIR/log" "$FDIR/run" "$FDIR/checkpoints" "$FDIR/savepoints"
  compgen -G "$LIB_DIR/flink/flink-sql-connector-kafka-*.jar" >/dev/null \
    || die "connector jars missing in $LIB_DIR/flink; run 'make setup'."
  # Wheel jars + flink-python (needed by Python UDFs) + the pinned connectors and JDBC driver.
  # The driver sits on the parent classpath so DriverManager finds it.
  rm -f "$FLINK_LIB_DIR"/*.jar
  ln -s "$home"/lib/*.jar "$home"/opt/flink-python-*.jar "$LIB_DIR"/flink/*.jar "$FLINK_LIB_DIR"/
  cp "$home"/conf/log4j*.properties "$FLINK_CONF_DIR"/
  sed -e "s#\${STATE_DIR}#$STATE_DIR#g" -e "s#\${REPO_DIR}#$REPO_DIR#g" \
      -e "s#^\(  port: \)8081#\1$FLINK_REST_PORT#" -e "s#^\(    port: \)6123#\1$FLINK_RPC_PORT#" \
      "$REPO_DIR/flink-conf/config.yaml" >"$FLINK_CONF_DIR/config.yaml"
  echo 127.0.0.1:"$FLINK_REST_PORT" >"$FLINK_CONF_DIR/masters"
  echo 127.0.0.1 >"$FLINK_CONF_DIR/workers"
  chmod +x "$home"/bin/*  # some installers drop the exec bits
}


rest_up() { curl -sf "http://127.0.0.1:$FLINK_REST_PORT/overview" >/dev/null 2>&1; }

taskmanagers() {  # registered TaskManagers, or nothing if the REST API does not answer
  curl -sf "http://127.0.0.1:$FLINK_REST_PORT/overview" 2>/dev/null \
    | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["taskmanagers"])' 2>/dev/null
}

# One JobManager or TaskManager in the foreground: the supervisor's command. The
# supervisor runs exactly one of each and restarts whichever exits.
run() {
  local role=${1:?usage: flink.sh run jobmanager|taskmanager}
  java_check
  [[ -f "$FLINK_CONF_DIR/config.yaml" ]] || die "no Flink configuration in $FLINK_CONF_DIR; run 'make up'."
  local home; home=$(flink_home)
  case "$role" in
    jobmanager)
      ensure_port_free "$FLINK_REST_PORT" "Flink REST/UI" FLINK_REST_PORT
      ensure_port_free "$FLINK_RPC_PORT" "Flink JobManager RPC" FLINK_RPC_PORT
      exec "$home/bin/jobmanager.sh" start-foreground ;;
    taskmanager)
      exec "$home/bin/taskmanager.sh" start-foreground ;;
    *) die "run: jobmanager or taskmanager, not '$role'" ;;
  esac
}

# Ready = the REST API answers and a TaskManager has registered (a JobManager alone cannot
# run a job, so "REST answers" is not "cluster up").
start() {
  supervised || die "the supervisor is not running; start the stack with 'make up'."
  "$REPO_DIR/stack/supervise.sh" ctl start jobmanager taskmanager >/dev/null || true
  for _ in $(seq 480); do
    if [[ "$(taskmanagers)" -ge 1 ]] 2>/dev/null; then
      log "ready: Flink UI at http://127.0.0.1:$FLINK_REST_PORT"; return
    fi
    sleep 0.5
  done
  die "Flink did not come up with a TaskManager within 240 s; see $FDIR/log and 'make status'"
}

stop() {
  if supervised; then
    "$REPO_DIR/stack/supervise.sh" ctl stop jobkeeper taskmanager jobmanager >/dev/null || true
  fi
  [[ -f "$FLINK_CONF_DIR/config.yaml" ]] || return 0
  local home; home=$(flink_home)  # daemons an earlier version of this script started
  "$home/bin/taskmanager.sh" stop-all >/dev/null 2>&1 || true
  "$home/bin/jobmanager.sh" stop-all >/dev/null 2>&1 || true
}

status() {
  if ! rest_up; then echo "flink     down"; return; fi
  local o; o=$(curl -s "http://127.0.0.1:$FLINK_REST_PORT/overview" | "$PY" -c '
import json, sys
o = json.load(sys.stdin)
print("taskmanagers=%s slots=%s running_jobs=%s" % (o["taskmanagers"], o["slots-total"], o["jobs-running"]))
if o["taskmanagers"] == 0:
    print("  <- NO TASKMANAGER: no job can run (make status shows whether it is restarting)")')
  echo "flink     up    http://127.0.0.1:$FLINK_REST_PORT  $o"
}

"${1:-status}" "${@:2}"

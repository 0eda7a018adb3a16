#!/usr/bin/env bash
# Flink standalone cluster (one JobManager, one TaskManager) from the distribution
# inside the apache-flink wheel, configured from flink-conf/. The wheel stays untouched:
# the effective conf dir and a lib dir (wheel jars + pinned connectors) live in .state/flink.
# Usage: stack/flink.sh start|stop|status
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

start() {
  if rest_up; then log "already running: http://127.0.0.1:$FLINK_REST_PORT"; return; fi
  java_check
  ensure_port_free "$FLINK_REST_PORT" "Flink REST/UI" FLINK_REST_PORT
  ensure_port_free "$FLINK_RPC_PORT" "Flink JobManager RPC" FLINK_RPC_PORT
  prepare
  local home; home=$(flink_home)
  log "starting JobManager + TaskManager (logs in $FDIR/log)"
  "$home/bin/jobmanager.sh" start >/dev/null
  "$home/bin/taskmanager.sh" start >/dev/null
  for _ in $(seq 120); do
    if curl -sf "http://127.0.0.1:$FLINK_REST_PORT/overview" 2>/dev/null | grep -q '"taskmanagers":[1-9]'; then
      log "ready: Flink UI at http://127.0.0.1:$FLINK_REST_PORT"; return
    fi
    sleep 0.5
  done
  die "Flink did not come up within 60 s; see $FDIR/log"
}

stop() {
  [[ -f "$FLINK_CONF_DIR/config.yaml" ]] || return 0
  local home; home=$(flink_home)
  "$home/bin/taskmanager.sh" stop-all >/dev/null 2>&1 || true
  "$home/bin/jobmanager.sh" stop-all >/dev/null 2>&1 || true
  log "stopped"
}

status() {
  if rest_up; then
    echo "flink     up    http://127.0.0.1:$FLINK_REST_PORT  $(curl -s "http://127.0.0.1:$FLINK_REST_PORT/overview" | "$PY" -c 'import json,sys;o=json.load(sys.stdin);print("taskmanagers=%s slots=%s running_jobs=%s" % (o["taskmanagers"], o["slots-total"], o["jobs-running"]))')"
  else echo "flink     down"; fi
}

"${1:-status}"

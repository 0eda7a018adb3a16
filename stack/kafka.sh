#!/usr/bin/env bash
# Single-node Kafka 4 in KRaft mode (broker + controller in one JVM), from the jars
# that stack/pom.xml pins, run by the supervisor (stack/supervise.sh).
# Usage: stack/kafka.sh run (foreground, the supervisor's command) | start | stop | status
source "$(dirname "$0")/common.sh"

DATA="$STATE_DIR/kafka/data"
CONF="$STATE_DIR/kafka/server.properties"
LOG="$STATE_DIR/kafka/kafka.log"
PIDF="$STATE_DIR/kafka/kafka.pid"
CP="$LIB_DIR/kafka/*"

# The client listener: PLAINTEXT, or SASL_PLAINTEXT with PLAIN logins when .env sets
# KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT (the same variables every client reads,
# lcm.settings.KafkaSecurity): one user, KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD.
# SCRAM and TLS are for a real cluster (deploy/kubernetes, docs/security.md).
listener_config() {
  case "${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}" in
    PLAINTEXT|plaintext)
      cat <<PROPS
listeners=PLAINTEXT://${LCM_BIND}:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED_HOST:-127.0.0.1}:${KAFKA_PORT}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
PROPS
      ;;
    SASL_PLAINTEXT|sasl_plaintext)
      [[ "${KAFKA_SASL_MECHANISM:-}" =~ ^(PLAIN|plain)$ ]] \
        || die "the native broker supports SASL mechanism PLAIN (KAFKA_SASL_MECHANISM=PLAIN in .env); SCRAM and TLS: docs/security.md"
      [[ -n "${KAFKA_SASL_USERNAME:-}" && -n "${KAFKA_SASL_PASSWORD:-}" ]] \
        || die "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD in .env"
      [[ "$KAFKA_SASL_USERNAME$KAFKA_SASL_PASSWORD" =~ ^[A-Za-z0-9._~+-]+$ ]] \
        || die "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: letters, digits and ._~+- only (they go into a JAAS line)"
      cat <<PROPS
listeners=SASL_PLAINTEXT://${LCM_BIND}:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=SASL_PLAINTEXT://${KAFKA_ADVERTISED_HOST:-127.0.0.1}:${KAFKA_PORT}
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${KAFKA_SASL_USERNAME}" password="${KAFKA_SASL_PASSWORD}" user_${KAFKA_SASL_USERNAME}="${KAFKA_SASL_PASSWORD}";
PROPS
      ;;
    *) die "KAFKA_SECURITY_PROTOCOL=${KAFKA_SECURITY_PROTOCOL}: the native broker offers PLAINTEXT or SASL_PLAINTEXT (docs/security.md)" ;;
  esac
}

# The broker's server.properties (stdout): `stack/kafka.sh config` prints it.
config() {
  listener_config
  cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}
controller.listener.names=CONTROLLER
log.dirs=${DATA}
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# Retention by size, not time: the job's event time is the record timestamp, and replays,
# backfills and recorded fixtures carry old timestamps that time-based retention deletes.
log.retention.ms=-1
log.retention.bytes=1073741824
PROPS
}

write_config() {
  mkdir -p "$DATA"
  local props; props=$(config) || exit 1
  (umask 077 && printf '%s\n' "$props" >"$CONF")  # may hold the SASL password
}

# Checks and one-time storage format, then the broker in the foreground: the supervisor's
# command (stack/supervise.sh), which restarts it if it exits.
run() {
  java_check
  compgen -G "$LIB_DIR/kafka/kafka_2.13-*.jar" >/dev/null || die "Kafka jars missing in $LIB_DIR/kafka; run 'make setup'."
  ensure_port_free "$KAFKA_PORT" Kafka KAFKA_PORT
  ensure_port_free "$KAFKA_CONTROLLER_PORT" "Kafka controller" KAFKA_CONTROLLER_PORT
  write_config
  if [[ ! -f "$DATA/meta.properties" ]]; then
    log "formatting storage in $DATA"
    local id; id=$(java -cp "$CP" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -cp "$CP" kafka.tools.StorageTool format -t "$id" -c "$CONF" >>"$LOG" 2>&1 \
      || die "formatting Kafka storage failed; see $LOG"
  fi
  log "broker on ${LCM_BIND}:${KAFKA_PORT} (log: $LOG)"
  # shellcheck disable=SC2086
  exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$REPO_DIR/stack/kafka-log4j2.yaml" -Dkafka.logs.dir="$STATE_DIR/kafka" \
    -cp "$CP" kafka.Kafka "$CONF" >>"$LOG" 2>&1
}

start() {
  supervised || die "the supervisor is not running; start the stack with 'make up'."
  "$REPO_DIR/stack/supervise.sh" ctl start kafka >/dev/null || true
  # A loaded machine takes its time: a broker with many partitions needs a minute or two.
  wait_for_port "$KAFKA_PORT" 240 Kafka "$LOG"
  log "ready"
}

stop() {
  if supervised; then "$REPO_DIR/stack/supervise.sh" ctl stop kafka >/dev/null || true; fi
  if pid_alive "$PIDF"; then  # a broker started by an earlier version of this script
    local pid; pid=$(cat "$PIDF"); kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDF"
}

status() {
  if port_busy "$KAFKA_PORT"; then echo "kafka     up    ${LCM_BIND}:${KAFKA_PORT}"
  else echo "kafka     down"; fi
}

"${1:-status}" "${@:2}"

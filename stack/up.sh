#!/usr/bin/env bash
# Install what is missing, then start the stack under its supervisor (stack/supervise.sh):
# Kafka, PostgreSQL, the Flink JobManager and TaskManager and the job keeper, each restarted
# if it dies; wait until each is ready; create the topics and apply the schema.
source "$(dirname "$0")/common.sh"
S="$REPO_DIR/stack"
"$S/setup.sh"
"$S/postgres.sh" prepare
"$S/flink.sh" prepare
own_service_dirs
"$S/supervise.sh" start
"$S/kafka.sh" start
"$S/postgres.sh" start
"$S/postgres.sh" init
"$S/flink.sh" start
"$S/topics.sh"

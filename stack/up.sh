#!/usr/bin/env bash
# Install what is missing, then start Kafka, PostgreSQL and Flink, and create topics and schema.
set -euo pipefail
S="$(dirname "$0")"
"$S/setup.sh"
"$S/kafka.sh" start
"$S/postgres.sh" start
"$S/postgres.sh" init
"$S/flink.sh" start
"$S/topics.sh"

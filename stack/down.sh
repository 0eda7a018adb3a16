#!/usr/bin/env bash
# Stop every service; state in .state/ stays for the next `make up`.
S="$(dirname "$0")"
"$S/flink.sh" stop
"$S/kafka.sh" stop
"$S/postgres.sh" stop

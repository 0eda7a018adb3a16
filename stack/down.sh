#!/usr/bin/env bash
# Stop every service; state in .state/ stays for the next `make up`.
S="$(dirname "$0")"
status=0
"$S/flink.sh" stop || status=1
"$S/kafka.sh" stop || status=1
"$S/postgres.sh" stop || status=1
exit $status

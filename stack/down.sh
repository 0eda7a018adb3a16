#!/usr/bin/env bash
# Stop every service and the supervisor; state in .state/ stays for the next `make up`.
source "$(dirname "$0")/common.sh"
S="$REPO_DIR/stack"
status=0
"$S/supervise.sh" stop || status=1
# Services an earlier version of these scripts started without the supervisor.
"$S/flink.sh" stop || status=1
"$S/kafka.sh" stop || status=1
"$S/postgres.sh" stop || status=1
exit $status

#!/usr/bin/env bash
# Create the monitor's topics (lcm/topics.txt) if they are missing.
source "$(dirname "$0")/common.sh"
exec "$PY" -m ingest topics "$@"

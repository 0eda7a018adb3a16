#!/usr/bin/env bash
# Submit / cancel the monitor job on the running Flink cluster.
# Usage: stack/job.sh submit [job args...] | cancel | status
source "$(dirname "$0")/common.sh"
export FLINK_CONF_DIR="$STATE_DIR/flink/conf" FLINK_LIB_DIR="$STATE_DIR/flink/lib"
REST="http://127.0.0.1:$FLINK_REST_PORT"
NAME="${LCM_TOPIC_PREFIX:-}liquidation-cascade-monitor"

running_ids() {  # ids of RUNNING/CREATED/RESTARTING jobs with our name
  curl -sf "$REST/jobs/overview" | "$PY" -c '
import json, sys
for j in json.load(sys.stdin)["jobs"]:
    if j["name"] == sys.argv[1] and j["state"] in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING"):
        print(j["jid"])' "$NAME"
}

submit() {
  curl -sf "$REST/overview" >/dev/null || die "no Flink cluster at $REST; run 'make up'."
  local ids; ids=$(running_ids)
  if [[ -n "$ids" ]]; then log "already running: job $ids  (Flink UI: $REST/#/job/running)"; return; fi
  # A job without a free slot would restart for minutes: queue briefly, then say who holds them.
  "$PY" -m flink_jobs.cluster wait-for-slot --slots "${LCM_PARALLELISM:-1}" --timeout "${LCM_SLOT_WAIT_S:-30}" || exit 1
  log "submitting $NAME"
  local out
  out=$(cd "$REPO_DIR" && "$(flink_home)/bin/flink" run -d -py flink_jobs/job.py \
        -pyexec "$PY" -pyclientexec "$PY" "$@" 2>&1) || { echo "$out" >&2; die "submission failed"; }
  local jid; jid=$(grep -oE 'JobID [0-9a-f]{32}' <<<"$out" | tail -1 | cut -d' ' -f2)
  [[ -n "$jid" ]] || { echo "$out" >&2; die "no job id in the submission output"; }
  local state; state=$("$PY" -m flink_jobs.cluster wait-running "$jid" --timeout 60) || exit 1
  log "job $jid is ${state:-submitted}"
  echo "JOB_ID=$jid"
  log "Flink UI: $REST/#/job/running/$jid/overview"
}

cancel() {
  local ids; ids=$(running_ids) || die "no Flink cluster at $REST"
  [[ -n "$ids" ]] || { log "no running $NAME job"; return; }
  for jid in $ids; do
    curl -sf -X PATCH "$REST/jobs/$jid?mode=cancel" >/dev/null && log "cancelled $jid"
  done
}

status() {
  local ids; ids=$(running_ids 2>/dev/null) || { echo "job       (no cluster)"; return; }
  if [[ -n "$ids" ]]; then echo "job       RUNNING  $ids"; else echo "job       not running"; fi
}

"${1:-status}" "${@:2}"

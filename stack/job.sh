#!/usr/bin/env bash
# Submit / resume / cancel the monitor job on the running Flink cluster.
# Usage: stack/job.sh submit [-s CHECKPOINT] [job args...] | resume [CHECKPOINT] | cancel
#        | status | latest-checkpoint
# A submitted job is registered in .state/flink/jobs/: the job keeper (flink_jobs/keeper.py,
# run by the supervisor) brings it back from its latest checkpoint if a JobManager restart
# loses it. Cancelling tells the keeper to leave it be.
source "$(dirname "$0")/common.sh"
export FLINK_CONF_DIR="$STATE_DIR/flink/conf" FLINK_LIB_DIR="$STATE_DIR/flink/lib"
REST="http://127.0.0.1:$FLINK_REST_PORT"
NAME="${LCM_TOPIC_PREFIX:-}liquidation-cascade-monitor"
JOBS="$STATE_DIR/flink/jobs"

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
  register "$jid" "$@"
  echo "JOB_ID=$jid"
  log "Flink UI: $REST/#/job/running/$jid/overview"
}

# The registry entry the job keeper reads: name, job id, the sandbox settings and arguments
# to submit it with again, and every job id it had (their checkpoints are its history).
register() {
  local jid=$1; shift
  mkdir -p "$JOBS"
  "$PY" - "$JOBS/$NAME.json" "$jid" "$@" <<'PY'
import json, os, sys, time
path, jid, args = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    old = json.load(open(path))
except (OSError, ValueError):
    old = {}
while "-s" in args:  # a resume point is not part of the job's own arguments
    i = args.index("-s")
    del args[i:i + 2]
entry = {"name": os.path.basename(path)[:-5], "job_id": jid, "keep": True,
         "history": [*old.get("history", []), jid][-20:], "args": args,
         "env": {k: os.environ[k] for k in ("LCM_TOPIC_PREFIX", "LCM_DB", "LCM_CONFIG")
                 if os.environ.get(k)},
         "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
tmp = path + ".tmp"
with open(tmp, "w") as fh:
    json.dump(entry, fh, indent=1)
os.replace(tmp, path)
PY
}

# The newest retained checkpoint of this job name (any of its job ids), or nothing.
latest-checkpoint() {
  "$PY" -m flink_jobs.keeper latest-checkpoint "$NAME"
}

# Submit again from the newest retained checkpoint (or the one given): what the keeper does
# after a JobManager restart, and what to run by hand after 'make cancel-job'.
resume() {
  local chk=${1:-}
  [[ -n "$chk" ]] || chk=$(latest-checkpoint)
  [[ -n "$chk" ]] || die "no retained checkpoint of $NAME in $STATE_DIR/flink/checkpoints; 'make submit-job' starts it afresh."
  log "resuming $NAME from $chk"
  submit -s "$chk" "${@:2}"
}

cancel() {
  "$PY" -m flink_jobs.keeper unkeep "$NAME"  # deliberately stopped: the keeper leaves it be
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

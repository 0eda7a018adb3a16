"""The job keeper: brings registered jobs back after a JobManager restart.

    python -m flink_jobs.keeper                       # run by the supervisor (stack/supervise.sh)
    python -m flink_jobs.keeper latest-checkpoint NAME

The native Flink cluster is a standalone session cluster without high availability: a
JobManager that dies (and is restarted by the supervisor) comes back knowing no job. Every
job submitted with stack/job.sh is registered in .state/flink/jobs/<name>.json (its job
ids, arguments and sandbox settings). Every few seconds the keeper compares the registry
with the cluster:

- the job runs (or restarts by itself after a TaskManager or task failure): nothing to do;
- the job was cancelled or finished: someone meant it, the entry is kept (its checkpoints
  stay findable for `stack/job.sh resume`) but marked as not to be kept running;
- the cluster does not know the job (JobManager restarted) or it failed for good: it is
  submitted again with stack/job.sh from its newest retained checkpoint (every checkpoint
  is kept on cancellation and on a crash), so its state, its Kafka offsets and its alert
  transactions continue where the checkpoint left them. Without any checkpoint it starts
  afresh (the tables are upserted, so they come out the same).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

from flink_jobs.cluster import flink_rest
from lcm.paths import REPO_DIR, state_dir
from lcm.settings import Connections

log = logging.getLogger("flink_jobs.keeper")
ACTIVE = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "CANCELLING",
          "FAILING", "SUSPENDED")
GONE_ON_PURPOSE = ("CANCELED", "FINISHED")
RETRY_S = 30.0


def jobs_dir() -> Path:
    return state_dir() / "flink" / "jobs"


def checkpoints_dir() -> Path:
    return state_dir() / "flink" / "checkpoints"


def latest_checkpoint(job_ids: list[str], root: Path | None = None) -> Path | None:
    """The newest complete retained checkpoint (one with its _metadata) of any of the ids."""
    root = root or checkpoints_dir()
    found = []
    for jid in job_ids:
        for chk in (root / jid).glob("chk-*"):
            meta = chk / "_metadata"
            if meta.is_file():
                found.append((meta.stat().st_mtime, int(chk.name[4:]), chk))
    return max(found)[2] if found else None


def load_entries() -> list[dict]:
    out = []
    for path in sorted(jobs_dir().glob("*.json")):
        try:
            out.append({**json.loads(path.read_text()), "_path": path})
        except (OSError, ValueError) as exc:
            log.warning("unreadable job registry entry %s: %s", path, exc)
    return out


def unkeep(path: Path) -> None:
    """Mark a registered job as deliberately stopped (its history stays)."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    entry["keep"] = False
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry, indent=1))
    os.replace(tmp, path)


def cluster_states(conn: Connections) -> dict[str, str] | None:
    """job id -> state of every job the JobManager knows; None if it does not answer."""
    try:
        return {j["jid"]: j["state"] for j in flink_rest("/jobs/overview", conn)["jobs"]}
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


def resubmit(entry: dict) -> bool:
    chk = latest_checkpoint(entry.get("history") or [entry["job_id"]])
    env = {**os.environ, **entry.get("env", {})}
    if not entry.get("env", {}).get("LCM_TOPIC_PREFIX"):
        env.pop("LCM_TOPIC_PREFIX", None)
    cmd = [str(REPO_DIR / "stack" / "job.sh"), "submit",
           *(["-s", str(chk)] if chk else []), *entry.get("args", [])]
    log.warning("job %s (%s) is not on the cluster; submitting it again from %s",
                entry["name"], entry["job_id"], chk or "scratch (no retained checkpoint)")
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        log.error("resubmitting %s failed (retrying in %.0f s):\n%s%s", entry["name"], RETRY_S,
                  run.stdout[-2000:], run.stderr[-2000:])
        return False
    log.info("job %s is back: %s", entry["name"], run.stdout.strip().splitlines()[-1:])
    return True


def tick(conn: Connections, retry_at: dict[str, float]) -> None:
    states = cluster_states(conn)
    if states is None:
        return  # no JobManager yet: the supervisor is restarting it
    for entry in load_entries():
        if not entry.get("keep", True):
            continue
        name, state = entry["name"], states.get(entry["job_id"])
        if state in ACTIVE:
            retry_at.pop(name, None)
            continue
        if state in GONE_ON_PURPOSE:
            log.info("job %s was %s; no longer kept running", name, state.lower())
            unkeep(entry["_path"])
            continue
        if time.monotonic() < retry_at.get(name, 0):
            continue
        if not resubmit(entry):
            retry_at[name] = time.monotonic() + RETRY_S


def serve(interval_s: float = 5.0) -> None:
    conn = Connections.from_env()
    retry_at: dict[str, float] = {}
    log.info("keeping the jobs registered in %s", jobs_dir())
    while True:
        try:
            tick(conn, retry_at)
        except Exception:  # never die: the supervisor would restart us, but say what broke
            log.exception("job keeper round failed")
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flink_jobs.keeper", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    lc = sub.add_parser("latest-checkpoint", help="print the newest retained checkpoint of a job")
    lc.add_argument("name")
    uk = sub.add_parser("unkeep", help="mark a registered job as deliberately stopped")
    uk.add_argument("name")
    args = ap.parse_args(argv)
    if args.cmd == "unkeep":
        unkeep(jobs_dir() / f"{args.name}.json")
        return 0
    if args.cmd == "latest-checkpoint":
        path = jobs_dir() / f"{args.name}.json"
        ids: list[str] = []
        if path.exists():
            entry = json.loads(path.read_text())
            ids = entry.get("history") or [entry["job_id"]]
        chk = latest_checkpoint(ids)
        if chk:
            print(chk)
        return 0 if chk else 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Flink cluster's REST API, as the submit script and the sandboxes need it: which jobs
run, how many task slots are free, and a clear failure instead of a job that restarts for
minutes waiting for a slot it cannot get.

    python -m flink_jobs.cluster wait-for-slot [--slots N] [--timeout S]
    python -m flink_jobs.cluster wait-running JOB_ID [--timeout S]

Both exit 0 when fine and 1 with a message that says what holds the cluster and what to do.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

from lcm.settings import Connections

# States in which a job holds (or is about to hold) task slots.
ACTIVE_STATES = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING",
                 "CANCELLING", "FAILING")
NO_SLOT = "NoResourceAvailableException"


class ClusterError(RuntimeError):
    """The cluster cannot run the job now; the message says why and what to do."""


def flink_rest(path: str, conn: Connections, method: str = "GET") -> dict:
    req = urllib.request.Request(conn.flink_rest + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else {}


def active_jobs(conn: Connections) -> list[dict]:
    """Jobs that hold slots: [{jid, name, state, duration (ms)}], oldest first."""
    jobs = flink_rest("/jobs/overview", conn)["jobs"]
    return sorted((j for j in jobs if j["state"] in ACTIVE_STATES), key=lambda j: j["start-time"])


def slot_report(conn: Connections) -> str:
    """What holds the cluster's slots, and what to do about it."""
    overview = flink_rest("/overview", conn)
    lines = [f"the Flink cluster at {conn.flink_rest} has {overview['slots-available']} of "
             f"{overview['slots-total']} task slots free "
             f"({overview['taskmanagers']} TaskManager(s)); jobs holding slots:"]
    lines += [f"  {j['name']}  {j['jid']}  {j['state']}, for {j['duration'] // 60000} min"
              for j in active_jobs(conn)] or ["  (none: a TaskManager may be down, see "
                                              "'make status')"]
    lines.append("Cancel one ('make cancel-job' cancels the monitor; any job: curl -X PATCH "
                 f"'{conn.flink_rest}/jobs/<id>?mode=cancel'), or raise "
                 "taskmanager.numberOfTaskSlots in flink-conf/config.yaml and 'make down up'.")
    return "\n".join(lines)


def wait_for_slot(conn: Connections, slots: int = 1, timeout_s: float = 30) -> None:
    """Return once `slots` task slots are free; queue for up to timeout_s (a job that was
    just cancelled frees its slot within seconds), then raise ClusterError."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            free = flink_rest("/overview", conn)["slots-available"]
        except (OSError, urllib.error.URLError) as exc:
            raise ClusterError(f"no Flink cluster at {conn.flink_rest} ({exc}); "
                               "run 'make up'.") from None
        if free >= slots:
            return
        if time.monotonic() >= deadline:
            raise ClusterError(f"no free task slot after {timeout_s:.0f} s: "
                               + slot_report(conn))
        time.sleep(1)


def wait_running(conn: Connections, job_id: str, timeout_s: float = 60) -> str:
    """Wait until the job runs; fail fast (cancelling it) when it cannot get its slots or
    fails, instead of letting it restart for minutes. Returns the job's state."""
    deadline = time.monotonic() + timeout_s
    state = "unknown"
    while time.monotonic() < deadline:
        state = flink_rest(f"/jobs/{job_id}", conn)["state"]
        if state == "RUNNING":
            return state
        if state in ("FAILED", "CANCELED", "FINISHED"):
            raise ClusterError(f"job {job_id} is {state}; see "
                               f"{conn.flink_rest}/#/job/completed/{job_id}/exceptions")
        history = flink_rest(f"/jobs/{job_id}/exceptions", conn).get("exceptionHistory", {})
        for entry in history.get("entries", []):
            if NO_SLOT in (entry.get("exceptionName") or "") + (entry.get("stacktrace") or ""):
                flink_rest(f"/jobs/{job_id}?mode=cancel", conn, method="PATCH")
                raise ClusterError(f"job {job_id} could not get a task slot, so it was "
                                   "cancelled: " + slot_report(conn))
        time.sleep(0.5)
    return state  # still scheduling: the caller reports it, the job keeps trying


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    slot = sub.add_parser("wait-for-slot", help="wait until N task slots are free")
    slot.add_argument("--slots", type=int, default=1)
    slot.add_argument("--timeout", type=float, default=30, help="seconds (default 30)")
    run = sub.add_parser("wait-running", help="wait until a submitted job runs")
    run.add_argument("job_id")
    run.add_argument("--timeout", type=float, default=60, help="seconds (default 60)")
    args = ap.parse_args(argv)
    conn = Connections.from_env()
    try:
        if args.command == "wait-for-slot":
            wait_for_slot(conn, args.slots, args.timeout)
        else:
            print(wait_running(conn, args.job_id, args.timeout))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

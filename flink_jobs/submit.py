"""lcm-job: run the monitor job on a Flink session cluster (compose, a standalone cluster).

    lcm-job submit [--parallelism N] [--watch]   submit unless it runs; resume from the
                                                 newest savepoint or retained checkpoint
    lcm-job stop                                 stop with a savepoint (before an upgrade)
    lcm-job cancel | status

A JobManager without high availability forgets its jobs when it restarts. `submit` records
each job it submits (<state>/flink/lcm-job/<name>.json) and resubmits from that job's
newest retained checkpoint, or from the savepoint `stop` took, so a restart or an upgrade
loses no state. (The native stack's `make submit-job` registers its jobs with the job keeper
instead, flink_jobs/keeper.py, in <state>/flink/jobs/: the two records never mix.) With
--watch it stays and does so whenever the job is gone (compose's job-submit service); a job
someone cancelled or stopped is not brought back.
On Kubernetes the Flink Kubernetes Operator does all of this (deploy/kubernetes/).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from flink_jobs.cluster import ACTIVE_STATES, ClusterError, flink_rest, wait_for_slot, wait_running
from flink_jobs.job import JOB_NAME
from lcm.cli import EPILOG, RuntimeFailure, add_version, run
from lcm.paths import state_dir
from lcm.settings import Connections

STOPPED_BY_USER = ("CANCELED", "FINISHED", "SUSPENDED")


@dataclass
class Target:
    conn: Connections
    name: str

    @property
    def record(self) -> Path:
        return state_dir() / "flink" / "lcm-job" / f"{self.name}.json"

    def recorded(self) -> dict:
        try:
            return json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def remember(self, **fields: str) -> None:
        self.record.parent.mkdir(parents=True, exist_ok=True)
        data = {**self.recorded(), **fields}
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(self.record)

    def jobs(self) -> list[dict]:
        """Jobs with our name the cluster knows, newest first."""
        jobs = flink_rest("/jobs/overview", self.conn)["jobs"]
        return sorted((j for j in jobs if j["name"] == self.name),
                      key=lambda j: -j["start-time"])


def wait_for_cluster(conn: Connections, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if flink_rest("/overview", conn)["taskmanagers"] > 0:
                return
        except (OSError, urllib.error.URLError, KeyError):
            pass
        if time.monotonic() >= deadline:
            raise RuntimeFailure(f"no Flink cluster with a TaskManager at {conn.flink_rest} "
                                 f"after {timeout_s:.0f} s")
        time.sleep(2)


def local_path(uri: str) -> Path | None:
    """The local path of a file: URI (file:///p or file:/p, as Flink writes savepoint
    locations) or a plain path; None for remote storage (s3://...)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return None if parsed.scheme else Path(uri)


def newest_checkpoint(checkpoint_dir: str, job_id: str) -> str | None:
    """The newest complete retained checkpoint (chk-N with its _metadata) of a job."""
    base = local_path(checkpoint_dir)
    if base is None or not job_id:
        return None
    done = [(int(m.group(1)), p) for p in (base / job_id).glob("chk-*/_metadata")
            if (m := re.fullmatch(r"chk-(\d+)", p.parent.name))]
    return str(max(done)[1].parent) if done else None


def restore_point(target: Target) -> str | None:
    """The newest of: the savepoint `stop` took, the last job's newest checkpoint."""
    rec = target.recorded()
    candidates = []
    if rec.get("savepoint"):
        path = local_path(rec["savepoint"])
        if path is None or path.exists():
            candidates.append((float(rec.get("savepoint_at", 0)), rec["savepoint"]))
    ckpt = newest_checkpoint(rec.get("checkpoint_dir", ""), rec.get("job_id", ""))
    if ckpt:
        candidates.append((Path(ckpt, "_metadata").stat().st_mtime, ckpt))
    return max(candidates)[1] if candidates else None


def flink_cli() -> Path:
    home = os.environ.get("FLINK_HOME")
    if not home:
        import pyflink

        home = str(Path(pyflink.__file__).resolve().parent)
    return Path(home, "bin", "flink")


def cli_env() -> dict[str, str]:
    """The flink CLI's environment. In a Flink image FLINK_HOME says it all; on the native
    stack the CLI needs the cluster's config and lib dirs (connectors, JSON_FIELDS) that
    stack/flink.sh prepared under .state/flink, whatever FLINK_HOME says: PyFlink sets
    FLINK_HOME (and its lib dir) to its own bundled distribution, without the job's jar,
    in any process that has started a local Flink."""
    env = dict(os.environ)
    native = state_dir() / "flink"
    if (native / "lib").is_dir():  # set, not defaulted: PyFlink may have set them too
        env["FLINK_CONF_DIR"] = str(native / "conf")
        env["FLINK_LIB_DIR"] = str(native / "lib")
    return env


def submit(target: Target, parallelism: int | None, slot_wait_s: float,
           job_args: list[str]) -> str:
    conn = target.conn
    wait_for_slot(conn, parallelism or 1, slot_wait_s)
    restore = restore_point(target)
    endpoint = re.sub(r"^https?://", "", conn.flink_rest).rstrip("/")
    cmd = [str(flink_cli()), "run", "-d", "-m", endpoint]
    if restore:
        cmd += ["-s", restore]
    cmd += ["-pym", "flink_jobs.job", "-pyexec", sys.executable, "-pyclientexec",
            sys.executable]
    if parallelism:
        cmd += ["--parallelism", str(parallelism)]
    cmd += job_args
    print(f"lcm-job: submitting {target.name}"
          + (f" from {restore}" if restore else " (no savepoint or checkpoint: fresh state)"),
          flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=cli_env())
    found = re.findall(r"JobID ([0-9a-f]{32})", out.stdout + out.stderr)
    if out.returncode != 0 or not found:
        # The job's own error (a Python traceback, the job's message) without the Java
        # client's stack frames around it, which would push it out of the last lines.
        lines = [line for line in (out.stdout + out.stderr).strip().splitlines()
                 if not re.match(r"\s+(at |\.\.\. \d+ more)", line)]
        tail = "\n".join(lines[-40:])
        raise RuntimeFailure(f"submission failed (exit {out.returncode}):\n{tail}")
    job_id = found[-1]
    config = {e["key"]: e["value"] for e in flink_rest("/jobmanager/config", conn)}
    target.remember(job_id=job_id,
                    checkpoint_dir=config.get("execution.checkpointing.dir", ""))
    state = wait_running(conn, job_id, 120)
    print(f"lcm-job: job {job_id} is {state}; Flink UI {conn.flink_rest}/#/job/running/"
          f"{job_id}/overview\nJOB_ID={job_id}", flush=True)
    return job_id


def ensure(target: Target, args: argparse.Namespace) -> str | None:
    """Submit unless a job of ours is active; None when a user stopped it on purpose."""
    jobs = target.jobs()
    active = [j for j in jobs if j["state"] in ACTIVE_STATES]
    if active:
        return active[0]["jid"]
    if jobs and jobs[0]["state"] in STOPPED_BY_USER and args.watch:
        return None
    return submit(target, args.parallelism, args.slot_wait, args.job_args)


def cmd_submit(target: Target, args: argparse.Namespace) -> int:
    wait_for_cluster(target.conn, args.cluster_wait)
    job = ensure(target, args)
    if job is None:
        print(f"lcm-job: {target.name} was stopped or cancelled; not resubmitting")
        return 0
    print(f"lcm-job: {target.name} runs as {job}", flush=True)
    while args.watch:
        time.sleep(args.interval)
        try:
            job = ensure(target, args)
        except (OSError, urllib.error.URLError):
            print("lcm-job: the JobManager is unreachable; waiting for it", flush=True)
            wait_for_cluster(target.conn, 3600)
            continue
        if job is None:
            print(f"lcm-job: {target.name} was stopped or cancelled; not resubmitting",
                  flush=True)
            return 0
    return 0


def _tasks_running(conn: Connections, jid: str) -> bool:
    """Every task of the job runs: a savepoint cannot start while one still deploys."""
    detail = flink_rest(f"/jobs/{jid}", conn)
    return detail["state"] == "RUNNING" and all(v["status"] == "RUNNING"
                                                for v in detail["vertices"])


def _failure(op: dict) -> str:
    """The first line of Flink's failure cause (not its serialized throwable)."""
    cause = op.get("failure-cause")
    trace = cause.get("stack-trace", "") if isinstance(cause, dict) else str(cause or "")
    return trace.strip().splitlines()[0] if trace.strip() else "no cause given"


def _stop_with_savepoint(conn: Connections, jid: str, body: bytes,
                         deadline: float) -> dict | None:
    """Trigger stop-with-savepoint and wait for its outcome: Flink's operation (a location,
    or a failure cause), or None if the deadline passed first."""
    import urllib.request

    req = urllib.request.Request(f"{conn.flink_rest}/jobs/{jid}/stop", data=body,
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        trigger = json.loads(resp.read())["request-id"]
    while time.monotonic() < deadline:
        status = flink_rest(f"/jobs/{jid}/savepoints/{trigger}", conn)
        if status["status"]["id"] == "COMPLETED":
            return status.get("operation", {})
        time.sleep(1)
    return None


def cmd_stop(target: Target, args: argparse.Namespace) -> int:
    active = [j for j in target.jobs() if j["state"] == "RUNNING"]
    if not active:
        raise RuntimeFailure(f"no running {target.name} job to stop")
    jid = active[0]["jid"]
    body = json.dumps({"drain": False, **({"targetDirectory": args.savepoint_dir}
                                          if args.savepoint_dir else {})}).encode()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _tasks_running(target.conn, jid):
            time.sleep(1)  # just submitted or restarting: its tasks are still deploying
            continue
        op = _stop_with_savepoint(target.conn, jid, body, deadline)
        if op is None:
            break
        if "location" in op:
            target.remember(savepoint=op["location"], savepoint_at=str(time.time()))
            print(f"lcm-job: stopped {jid} with savepoint {op['location']}")
            return 0
        if "Not all required tasks are currently running" not in _failure(op):
            raise RuntimeFailure(f"stop-with-savepoint failed: {_failure(op)}")
        time.sleep(2)  # a task restarted between the check and the trigger: again
    raise RuntimeFailure(f"the savepoint of {jid} did not complete in {args.timeout:.0f} s")


def cmd_cancel(target: Target, args: argparse.Namespace) -> int:
    active = [j for j in target.jobs() if j["state"] in ACTIVE_STATES]
    for j in active:
        flink_rest(f"/jobs/{j['jid']}?mode=cancel", target.conn, method="PATCH")
        print(f"lcm-job: cancelled {j['jid']}")
    if not active:
        print(f"lcm-job: no active {target.name} job")
    return 0


def cmd_status(target: Target, args: argparse.Namespace) -> int:
    jobs = target.jobs()
    for j in jobs:
        print(f"{j['jid']}  {j['state']}")
    print(f"restore point: {restore_point(target) or 'none'}")
    return 0 if any(j["state"] == "RUNNING" for j in jobs) else 1


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lcm-job", description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(ap)
    ap.add_argument("--topic-prefix", default=os.environ.get("LCM_TOPIC_PREFIX", ""),
                    help="run an isolated copy whose topics carry this prefix")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("submit", help="submit unless running, from the newest state")
    s.add_argument("--parallelism", type=int,
                   default=int(os.environ.get("LCM_PARALLELISM") or 0) or None,
                   help="operator parallelism (default $LCM_PARALLELISM or the cluster's)")
    s.add_argument("--watch", action="store_true",
                   help="stay, and resubmit whenever the job is gone (JobManager restart)")
    s.add_argument("--interval", type=float, default=10, help="watch interval, s (10)")
    s.add_argument("--cluster-wait", type=float, default=300,
                   help="seconds to wait for the cluster (300)")
    s.add_argument("--slot-wait", type=float,
                   default=float(os.environ.get("LCM_SLOT_WAIT_S") or 30),
                   help="seconds to queue for free task slots ($LCM_SLOT_WAIT_S or 30)")
    s.add_argument("job_args", nargs="*", help="passed to flink_jobs.job (after --)")
    s.set_defaults(func=cmd_submit)
    st = sub.add_parser("stop", help="stop with a savepoint; the next submit resumes from it")
    st.add_argument("--savepoint-dir", help="default: execution.checkpointing.savepoint-dir")
    st.add_argument("--timeout", type=float, default=300)
    st.set_defaults(func=cmd_stop)
    sub.add_parser("cancel", help="cancel the running job").set_defaults(func=cmd_cancel)
    sub.add_parser("status", help="the job's state (exit 1 when not running) and restore point"
                   ).set_defaults(func=cmd_status)
    return ap


def main(argv: list[str] | None = None) -> int:
    def go() -> int:
        args = parser().parse_args(argv)
        target = Target(Connections.from_env(), f"{args.topic_prefix}{JOB_NAME}")
        try:
            return args.func(target, args)
        except ClusterError as exc:
            raise RuntimeFailure(str(exc)) from None
        except (OSError, urllib.error.URLError) as exc:
            raise RuntimeFailure(f"Flink at {target.conn.flink_rest}: {exc}") from None

    return run("lcm-job", go)


if __name__ == "__main__":
    sys.exit(main())

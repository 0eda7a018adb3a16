"""Faults on the running stack: the same deterministic input through a fresh sandbox with
no fault and with one fault mid-run, the job's tables compared row by row with the
no-fault run, the alerts topic checked for duplicate ids.

    python -m bench.faults                                   # every fault, the issue's input
    python -m bench.faults --faults taskmanager,postgres --minutes 8
    python -m bench.faults feed ...                          # the ingest process it runs

The input is bench/workload.py's event mix (default 20 assets x 4 venues x 20 minutes) plus
a few records that break the contract, published by a real ingest publisher (on-disk spool,
idempotent producer) in its own process at a fixed rate, with heartbeats every second of
event time. At `--at` of the input one fault is injected into this checkout's stack (and
only this checkout's: harness/stack.py finds its processes by their files):

  udf-worker         kill -9 a Python UDF worker of the sandbox job
  taskmanager        kill -9 the TaskManager
  jobmanager         kill -9 the JobManager
  broker             kill -9 Kafka, held down 15 s, then started again
  postgres           PostgreSQL stopped for 30 s, then started again
  ingest-kafka-down  Kafka stopped, the ingest process killed -9 while it is down, Kafka
                     started again 15 s later

Then it waits (up to --recover-s) for the stack to recover by itself: every service up,
the sandbox job running, and a checkpoint completed after the fault ended. If it does not,
it restores the stack by hand and says what that took, so the tables can still be compared.
Prints one row per fault: recovered by itself, seconds to recover, rows missing / extra /
different against the no-fault run, and duplicate alert ids on the alerts topic.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness import stack
from harness.sandbox import ACTIVE_STATES, Sandbox, flink_rest
from lcm import kafka_io
from lcm.paths import REPO_DIR
from lcm.pipeline import SAMPLE_MONITOR_CONFIG, load_pipeline
from lcm.settings import Connections

FAULTS = ("udf-worker", "taskmanager", "jobmanager", "broker", "postgres", "ingest-kafka-down")
JOB_NAME = "liquidation-cascade-monitor"
# The workload is 20 minutes: the sample config's short history lets it score and alert
# (the shipped config judges an input only after an hour of it).
JOB_ARGS = ("--config", str(SAMPLE_MONITOR_CONFIG))
# The job's tables and their primary keys (sql/timescale/01_tables.sql); written_at is when
# a row was (re)written, not what it says, so it is left out of the comparison.
TABLES: dict[str, tuple[str, ...]] = {
    "features_1m": ("base", "venue", "window_start"),
    "risk_scores": ("base", "venue", "window_start"),
    "stablecoin_pressure": ("window_start",),
    "alerts": ("base", "window_start"),
    "liquidations": ("event_time", "dedup_key"),
    "dead_letters": ("topic", "kafka_partition", "kafka_offset"),
    "topic_events_1m": ("topic", "window_start"),
}
IGNORED_COLUMNS = {"written_at"}
HEARTBEAT_SOURCE = "faults"


# --- the input ---------------------------------------------------------------------------
Append = tuple[str, dict[str, Any], bytes | None, int]  # topic, message, key, partition


def heartbeat_appends(ts: int) -> list[Append]:
    """The spool appends of one heartbeat, as the ingest publisher makes them."""
    out: list[Append] = []
    for beat in kafka_io.heartbeat_records(HEARTBEAT_SOURCE, ts):
        value = {**beat.value, "ingest_ts": ts}  # deterministic: the same bytes every run
        out.append((beat.topic, value, beat.key, beat.partition))
    return out


BROKEN = (  # (what breaks, how): the job must dead-letter each with its reason
    ("price not positive", lambda m: {**m, "price": -1.0}),
    ("base missing", lambda m: {k: v for k, v in m.items() if k != "base"}),
    ("symbol missing", lambda m: {k: v for k, v in m.items() if k != "symbol"}),
    ("price not a number", lambda m: {**m, "price": "n/a"}),
)


def build_input(assets: int, minutes: int, prices_per_minute: int, broken: int,
                ) -> tuple[list[list[Append]], int]:
    """Items in publish order (each item: its spool appends), and the number of events.
    Deterministic: the same arguments give the same bytes."""
    from bench.workload import events

    evs = list(events(assets, minutes, prices_per_minute))
    prices = [i for i, e in enumerate(evs) if e.topic == "prices"]
    step = max(1, len(prices) // max(1, broken))
    bad_at = {prices[k * step + step // 2]: k for k in range(broken) if k * step + step // 2
              < len(prices)}
    items: list[list[Append]] = []
    next_beat: int | None = None
    for i, e in enumerate(evs):
        if next_beat is None or e.ts >= next_beat:
            items.append(heartbeat_appends(e.ts))
            next_beat = e.ts - e.ts % 1000 + 1000
        msg = orjson.loads(e.value)
        items.append([(e.topic, msg, e.key, -1)])
        if i in bad_at:
            _, spoil = BROKEN[bad_at[i] % len(BROKEN)]
            items.append([(e.topic, spoil(msg), b"bad:record", -1)])
    items.append(heartbeat_appends(evs[-1].ts + load_pipeline().close_after_ms))
    return items, len(evs) + len(bad_at)


def feed(args: argparse.Namespace) -> int:
    """The ingest process of the harness: publish the input through a real Publisher (spool
    + idempotent producer) at --rate events/s. Killed and started again, it resumes exactly
    where its spool says it stopped: nothing is published twice or skipped."""
    from ingest.publisher import Publisher

    items, _ = build_input(args.assets, args.minutes, args.prices_per_minute, args.broken)
    total = len(items)
    progress = Path(args.progress)
    pub = Publisher(Connections.from_env().kafka_bootstrap, Path(args.spool),
                    topic_prefix=args.prefix)
    start_item, start_seq = 0, 0
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(progress.read_text())
        start_item, start_seq = saved["item"], saved["seq"]
    skip = pub.spool.next_seq - start_seq  # appends of the item that was cut short
    item = start_item
    began, n_sent, last_write = time.monotonic(), 0, 0.0

    def save(done: bool = False) -> None:
        tmp = progress.with_suffix(".tmp")
        tmp.write_text(json.dumps({"item": item, "seq": pub.spool.next_seq, "total": total,
                                   "acked": pub.spool.cursor, "done": done}))
        os.replace(tmp, progress)

    while item < total:
        for topic, msg, key, partition in items[item]:
            if skip > 0:
                skip -= 1
                continue
            pub.publish(topic, msg, key=key, partition=partition)
        item += 1
        n_sent += 1
        now = time.monotonic()
        if now - last_write >= 0.1:
            save()
            last_write = now
        ahead = began + n_sent / args.rate - now
        if ahead > 0:
            time.sleep(ahead)
    save()
    while not pub.flush(5):  # Kafka may be away: wait, the spool keeps everything
        save()
    save(done=True)
    pub.close()
    return 0


# --- the feed process ----------------------------------------------------------------------
@dataclass
class Feeder:
    """The feed process, under the stack's supervisor when it runs (so a kill -9 is
    recovered the way a real ingest process is), else a child restarted by us."""

    box: Sandbox
    args: list[str]
    workdir: Path
    supervised: bool = False
    proc: subprocess.Popen | None = None
    restarts: int = 0

    @property
    def progress_file(self) -> Path:
        return self.workdir / "progress.json"

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.faults", "feed", "--prefix", self.box.prefix,
                "--spool", str(self.workdir / "spool"), "--progress", str(self.progress_file),
                *self.args]

    @property
    def program(self) -> str:
        return f"faultfeed-{self.box.prefix.rstrip('_')}"

    def start(self) -> None:
        self.supervised = stack.supervised()
        if self.supervised:
            conf = stack.state_dir() / "supervisor" / "conf.d" / f"{self.program}.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(
                f"[program:{self.program}]\ncommand={' '.join(self.command)}\n"
                f"directory={REPO_DIR}\nautostart=true\nautorestart=unexpected\n"
                "exitcodes=0\nstartsecs=0\nstartretries=20\nstopwaitsecs=10\n"
                f"redirect_stderr=true\nstdout_logfile={self.workdir / 'feed.log'}\n")
            stack.supervisorctl("reread")
            stack.supervisorctl("add", self.program, check=False)
        else:
            self._spawn()

    def _spawn(self) -> None:
        log = (self.workdir / "feed.log").open("ab")
        self.proc = subprocess.Popen(self.command, cwd=REPO_DIR, stdout=log, stderr=log)

    def pids(self) -> list[int]:
        marker = f"--prefix {self.box.prefix} "
        return [p.pid for p in stack.processes().values()
                if "bench.faults feed" in p.cmdline and marker in p.cmdline + " "]

    def progress(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.progress_file.read_text())
        return {"item": 0, "total": 1, "done": False}

    def tend(self) -> None:
        """Without a supervisor: start the process again if it died before it was done."""
        if not self.supervised and self.proc and self.proc.poll() is not None \
                and not self.progress().get("done"):
            self.restarts += 1
            self._spawn()

    def stop(self) -> None:
        if self.supervised:
            stack.supervisorctl("stop", self.program, check=False)
            stack.supervisorctl("remove", self.program, check=False)
            (stack.state_dir() / "supervisor" / "conf.d" / f"{self.program}.conf").unlink(
                missing_ok=True)
            stack.supervisorctl("reread", check=False)
        elif self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the job -------------------------------------------------------------------------------
def active_job(box: Sandbox) -> dict | None:
    """The sandbox's job as the cluster knows it now (a resubmission has a new id)."""
    with contextlib.suppress(Exception):
        for j in flink_rest("/jobs/overview", box.conn)["jobs"]:
            if j["name"] == f"{box.prefix}{JOB_NAME}" and j["state"] in ACTIVE_STATES:
                if j["jid"] not in box.jobs:
                    box.jobs.append(j["jid"])
                return j
    return None


def job_healthy_since(box: Sandbox, since: float) -> bool:
    """The job runs every task and completed a checkpoint that started after `since`
    (a checkpoint flushes every sink: the whole pipeline moves again)."""
    job = active_job(box)
    if job is None or job["state"] != "RUNNING":
        return False
    try:
        detail = flink_rest(f"/jobs/{job['jid']}", box.conn)
        if any(v["status"] != "RUNNING" for v in detail["vertices"]):
            return False
        latest = flink_rest(f"/jobs/{job['jid']}/checkpoints", box.conn)["latest"]["completed"]
    except (OSError, urllib.error.URLError, KeyError, TypeError):
        return False
    return bool(latest) and latest["trigger_timestamp"] / 1000 > since


def latest_checkpoint(job_ids: list[str]) -> Path | None:
    found = []
    for jid in job_ids:
        base = stack.state_dir() / "flink" / "checkpoints" / jid
        found += [p for p in base.glob("chk-*") if (p / "_metadata").exists()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


# --- faults --------------------------------------------------------------------------------
@dataclass
class Outcome:
    fault: str
    recovered: bool | None = None
    recover_s: float | None = None
    actions: list[str] = field(default_factory=list)
    missing: int = 0
    extra: int = 0
    different: int = 0
    per_table: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    alerts_on_topic: int = 0
    duplicate_alerts: int = 0
    alerts_not_on_topic: int = 0
    alert_latency_s: list[float] = field(default_factory=list)
    detail: str = ""


HELD: set[str] = set()  # services a fault holds down right now: started again, whatever happens


def inject(fault: str, box: Sandbox, feeder: Feeder, workers_before: set[int]) -> tuple[float, str]:
    """Inject one fault; return (when the harness stopped interfering, what it did)."""
    if fault == "udf-worker":
        mine = [w for w in stack.udf_workers() if w.pid not in workers_before]
        if not mine:
            raise RuntimeError("no Python UDF worker of the sandbox job found")
        stack.kill9(mine[0].pid)
        return time.time(), f"killed UDF worker {mine[0].pid}"
    if fault in ("taskmanager", "jobmanager"):
        killed = stack.pids(fault)
        if not killed:
            raise RuntimeError(f"no {fault} of this checkout is running")
        for pid in killed:
            stack.kill9(pid)
        return time.time(), f"killed {fault} {killed}"
    if fault == "broker":
        HELD.add("kafka")
        killed = stack.kill_and_hold("kafka")
        time.sleep(15)
        stack.start("kafka")
        HELD.discard("kafka")
        return time.time(), f"killed Kafka {killed}, 15 s down"
    if fault == "postgres":
        HELD.add("postgres")
        stack.stop("postgres")
        time.sleep(30)
        stack.start("postgres")
        HELD.discard("postgres")
        return time.time(), "PostgreSQL stopped 30 s"
    if fault == "ingest-kafka-down":
        HELD.add("kafka")
        killed = stack.kill_and_hold("kafka")
        time.sleep(3)
        victims = feeder.pids()
        for pid in victims:
            stack.kill9(pid)
        time.sleep(12)
        stack.start("kafka")
        HELD.discard("kafka")
        return time.time(), f"killed Kafka {killed}, then ingest {victims}, Kafka back 15 s later"
    raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")


def restore(box: Sandbox, feeder: Feeder, conn: Connections) -> list[str]:
    """Bring the stack back by hand, as a person would have to; say what it took."""
    actions = []
    up = stack.services_up(conn)
    for service in ("kafka", "postgres", "jobmanager"):
        if not up[service]:
            stack.start(service)
            actions.append(f"started {service}")
    if not stack.pids("taskmanager") or not stack.services_up(conn)["taskmanager"]:
        if not stack.pids("taskmanager"):
            stack.start("taskmanager")
            actions.append("started a TaskManager")
        for _ in range(120):
            if stack.services_up(conn)["taskmanager"]:
                break
            time.sleep(0.5)
    feeder.tend()
    if active_job(box) is None:
        chk = latest_checkpoint(box.jobs)
        args = ["-s", str(chk)] if chk else []
        box.submit_job(*JOB_ARGS, *args)
        actions.append(f"resubmitted the job from {chk.name if chk else 'scratch'}")
    return actions


def wait_recovered(box: Sandbox, feeder: Feeder, conn: Connections, since: float,
                   timeout_s: float) -> float | None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        feeder.tend()
        if all(stack.services_up(conn).values()) and job_healthy_since(box, since):
            return time.time() - since
        time.sleep(1)
    return None


class AlertWatch(threading.Thread):
    """When each alert id first becomes visible on the alerts topic to a reader of committed
    records (the notifier): wall-clock arrival per id."""

    def __init__(self, box: Sandbox) -> None:
        super().__init__(daemon=True)
        self.box, self.seen, self.stop = box, {}, threading.Event()

    def run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        consumer = kafka_io.make_consumer(
            self.box.conn.kafka_bootstrap, f"{self.box.prefix}latency",
            **{"enable.auto.commit": False, "isolation.level": "read_committed"})
        try:
            consumer.assign([TopicPartition(self.box.prefix + "alerts", 0, OFFSET_BEGINNING)])
            while not self.stop.is_set():
                for m in consumer.consume(100, 0.2):
                    if m.error() is None:
                        aid = orjson.loads(m.value())["alert_id"]
                        self.seen.setdefault(aid, time.time())
        finally:
            consumer.close()


def alert_latency(box: Sandbox, seen: dict[str, float]) -> list[float]:
    """Seconds from an alert's score row being written (risk_scores.written_at of the
    all-venue row of its window) to the alert being visible on the topic."""
    rows = box.query("SELECT a.alert_id, extract(epoch FROM r.written_at) AS w FROM alerts a "
                     "JOIN risk_scores r ON r.base = a.base AND r.venue = 'all' "
                     "AND r.window_start = a.window_start")
    return sorted(seen[r["alert_id"]] - float(r["w"]) for r in rows if r["alert_id"] in seen)


# --- results -------------------------------------------------------------------------------
def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return None if math.isnan(v) else v
    return v


def dump(box: Sandbox) -> dict[str, dict[tuple, dict[str, Any]]]:
    out = {}
    for table, key in TABLES.items():
        rows = box.query(f"SELECT * FROM {table}")
        out[table] = {tuple(r[k] for k in key): {c: _norm(v) for c, v in r.items()
                                                   if c not in IGNORED_COLUMNS}
                      for r in rows}
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def compare(base: dict, run: dict, examples: dict[str, list[str]] | None = None,
            ) -> dict[str, tuple[int, int, int]]:
    """Per table: (missing, extra, different) rows of `run` against `base`. `examples`
    receives a few of each kind per table, for the report."""
    out = {}
    for table in TABLES:
        b, r = base[table], run[table]
        missing = sorted(b.keys() - r.keys(), key=str)
        extra = sorted(r.keys() - b.keys(), key=str)
        different = sorted((k for k in b.keys() & r.keys()
                            if any(not _same(b[k][c], r[k].get(c)) for c in b[k])), key=str)
        out[table] = (len(missing), len(extra), len(different))
        if examples is not None:
            ex = examples.setdefault(table, [])
            ex += [f"missing {k}" for k in missing[:2]] + [f"extra {k}" for k in extra[:2]]
            for k in different[:2]:
                cols = [c for c in b[k] if not _same(b[k][c], r[k].get(c))]
                ex.append(f"different {k}: " + ", ".join(
                    f"{c} {b[k][c]!r} -> {r[k].get(c)!r}" for c in cols[:3]))
    return out


def alerts_on_topic(box: Sandbox, expected: int) -> tuple[int, int, set[str]]:
    """(records, duplicate ids, ids) on the sandbox's alerts topic, read as the notifier
    reads it (committed transactions only)."""
    msgs = kafka_io.read_topic(box.conn.kafka_bootstrap, box.prefix + "alerts",
                               max(expected, 1), timeout_s=30, linger_s=5)
    ids = Counter(orjson.loads(m.value())["alert_id"] for m in msgs)
    return len(msgs), sum(n - 1 for n in ids.values()), set(ids)


def settle(box: Sandbox, feeder: Feeder, timeout_s: float) -> None:
    """Wait until the feed is done and delivered, the job has consumed every record
    (committed on a checkpoint) and the tables have not changed for 10 s."""
    deadline = time.monotonic() + timeout_s
    counts_sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        feeder.tend()
        done = feeder.progress().get("done")
        counts = box.query(counts_sql)[0]
        if counts != last:
            last, since = counts, time.monotonic()
        if done and time.monotonic() - since >= 10 and box.caught_up():
            return
        time.sleep(2)
    raise RuntimeError(f"not settled in {timeout_s:.0f} s: feed {feeder.progress()}, "
                       f"counts {last}, job {active_job(box)}")


def run_one(fault: str, conn: Connections, feed_args: list[str], at: float,
            recover_s: float, baseline: dict | None, log: Callable[[str], None]
            ) -> tuple[Outcome, dict]:
    out = Outcome(fault)
    box = Sandbox.create(conn, "fault")
    workdir = Path(tempfile.mkdtemp(prefix=f"lcm-{box.prefix}"))
    feeder = Feeder(box, feed_args, workdir)
    try:
        workers_before = {w.pid for w in stack.udf_workers()}
        box.submit_job(*JOB_ARGS)
        watch = AlertWatch(box)
        watch.start()
        feeder.start()
        started = time.monotonic()
        while fault != "none":
            p = feeder.progress()
            if p["item"] >= at * p["total"]:
                break
            if time.monotonic() - started > 900:
                raise RuntimeError(f"the feed did not reach {at:.0%}: {p}")
            time.sleep(0.2)
        if fault != "none":
            ended, what = inject(fault, box, feeder, workers_before)
            log(f"  {fault}: {what}")
            took = wait_recovered(box, feeder, conn, ended, recover_s)
            out.recovered = took is not None
            out.recover_s = took
            if took is None:
                out.actions = restore(box, feeder, conn)
                log(f"  not recovered in {recover_s:.0f} s; restored by hand: {out.actions}")
        settle(box, feeder, 900)
        watch.stop.set()
        watch.join(10)
        out.alert_latency_s = alert_latency(box, watch.seen)
        rows = dump(box)
        n_alerts = len(rows["alerts"])
        out.alerts_on_topic, out.duplicate_alerts, ids = alerts_on_topic(box, n_alerts)
        out.alerts_not_on_topic = len({r["alert_id"] for r in rows["alerts"].values()} - ids)
        if baseline is not None:
            out.per_table = compare(baseline, rows, out.examples)
            out.missing, out.extra, out.different = (
                sum(v[i] for v in out.per_table.values()) for i in range(3))
        out.detail = ", ".join(f"{t} {len(v)}" for t, v in rows.items())
        return out, rows
    finally:
        for service in sorted(HELD):  # interrupted mid-fault: give the stack back first
            with contextlib.suppress(Exception):
                stack.start(service)
            HELD.discard(service)
        feeder.stop()
        box.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def table(outcomes: list[Outcome]) -> str:
    head = (f"{'fault':18} {'recovered':>9} {'seconds':>8} {'missing':>8} {'extra':>6} "
            f"{'different':>9} {'dup alerts':>10}  by hand")
    lines = [head, "-" * len(head)]
    for o in outcomes:
        rec = "-" if o.recovered is None else ("yes" if o.recovered else "no")
        secs = f"{o.recover_s:.0f}" if o.recover_s is not None else "-"
        lines.append(f"{o.fault:18} {rec:>9} {secs:>8} {o.missing:8} {o.extra:6} "
                     f"{o.different:9} {o.duplicate_alerts:10}  {'; '.join(o.actions) or '-'}")
    return "\n".join(lines)


def feed_arguments(args: argparse.Namespace) -> list[str]:
    return ["--assets", str(args.assets), "--minutes", str(args.minutes),
            "--prices-per-minute", str(args.prices_per_minute), "--broken", str(args.broken),
            "--rate", str(args.rate)]


def run_all(conn: Connections, faults: list[str], args: argparse.Namespace,
            log: Callable[[str], None] = print) -> list[Outcome]:
    feed_args = feed_arguments(args)
    log("no fault (baseline)")
    base_out, baseline = run_one("none", conn, feed_args, args.at, args.recover_s, None, log)
    outcomes = [base_out]
    for fault in faults:
        log(fault)
        out, _ = run_one(fault, conn, feed_args, args.at, args.recover_s, baseline, log)
        outcomes.append(out)
        if out.missing or out.extra or out.different:
            log("  differences per table (missing, extra, different): "
                + ", ".join(f"{t} {v}" for t, v in out.per_table.items() if any(v)))
            for t, ex in out.examples.items():
                for line in ex:
                    log(f"    {t}: {str(line)[:300]}")
    return outcomes


def add_input_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--assets", type=int, default=20)
    ap.add_argument("--minutes", type=int, default=20)
    ap.add_argument("--prices-per-minute", type=int, default=30)
    ap.add_argument("--broken", type=int, default=20, help="records that break the contract")
    ap.add_argument("--rate", type=float, default=600, help="events/s the ingest publishes")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["feed"]:
        fp = argparse.ArgumentParser(prog="python -m bench.faults feed")
        fp.add_argument("--prefix", required=True)
        fp.add_argument("--spool", required=True)
        fp.add_argument("--progress", required=True)
        add_input_args(fp)
        return feed(fp.parse_args(argv[1:]))
    ap = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", default=",".join(FAULTS),
                    help=f"comma-separated, from: {', '.join(FAULTS)}")
    ap.add_argument("--at", type=float, default=0.4, help="inject at this share of the input")
    ap.add_argument("--recover-s", type=float, default=180,
                    help="how long the stack has to recover by itself")
    add_input_args(ap)
    args = ap.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        ap.error(f"unknown fault(s) {unknown}; choose from {', '.join(FAULTS)}")
    # Stopped (timeout, kill): unwind like Ctrl-C, so a held service is started again and
    # the sandbox, its topics, database and feed program are removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    conn = Connections.from_env()
    _, n_events = build_input(args.assets, args.minutes, args.prices_per_minute, args.broken)
    print(f"input: {n_events:,} events ({args.assets} assets x 4 venues x {args.minutes} min, "
          f"{args.broken} broken) at {args.rate:.0f} events/s; fault at {args.at:.0%}; "
          f"stack: {'supervised' if stack.supervised() else 'not supervised'}", flush=True)
    outcomes = run_all(conn, faults, args, log=lambda s: print(s, flush=True))
    print()
    print(table(outcomes))
    lat = outcomes[0].alert_latency_s
    if lat:
        print(f"\nalert latency without faults (score row written -> alert visible to a "
              f"read_committed reader), {len(lat)} alerts: p50 {lat[len(lat) // 2]:.1f} s, "
              f"p90 {lat[int(0.9 * (len(lat) - 1))]:.1f} s, max {lat[-1]:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

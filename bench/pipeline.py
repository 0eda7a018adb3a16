"""End-to-end benchmark on the local stack: Kafka -> Flink -> PostgreSQL.

    python -m bench.pipeline [--assets 100 --minutes 40 --prices-per-minute 60]
    python -m bench.pipeline --minutes 10 --rate 5000     # latency at a live-like load

For each variant (vectorized pandas scoring UDFs, then row-at-a-time UDFs; `no-map`: the
vectorized job without the liquidation-level map, to price the map), in one run:
a fresh sandbox (own topics and database) and job; the whole event mix produced as fast as
the broker takes it, with heartbeats; then it waits until every minute is scored. Prints
events/s to the database, window-close-to-row latency, and peak RSS per service.
Figures, not assertions: this machine is noisy, so compare ratios from one run.
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import threading
import time
from pathlib import Path

from bench.workload import events
from flink_jobs.config import load_config
from harness.sandbox import Sandbox
from lcm.kafka_io import heartbeat, make_producer, poll_until
from lcm.paths import REPO_DIR
from lcm.settings import Connections

STATE = Path(os.environ.get("LCM_STATE_DIR", REPO_DIR / ".state"))


# --- memory -------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _rss_mib(pid: int, kids: dict[int, list[int]]) -> float:
    """RSS of a process and all its descendants, MiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
        stack.extend(kids.get(p, []))
    return total / 1024


def _pid_of(pattern: str) -> int | None:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if pattern in (d / "cmdline").read_bytes().decode(errors="replace"):
                    return int(d.name)
            except OSError:
                continue
    return None


def service_pids() -> dict[str, int]:
    pids = {
        "kafka": int((STATE / "kafka" / "kafka.pid").read_text()),
        "flink-jobmanager": _pid_of("StandaloneSessionClusterEntrypoint"),
        "flink-taskmanager+python": _pid_of("TaskManagerRunner"),
        "postgresql": int((STATE / "postgres" / "data" / "postmaster.pid").read_text().split()[0]),
    }
    return {k: v for k, v in pids.items() if v}


class RssSampler(threading.Thread):
    def __init__(self, interval_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval_s, self.peak, self.peak_total = interval_s, {}, 0.0
        self.stop = threading.Event()
        self.pids = service_pids()

    def run(self) -> None:
        while not self.stop.is_set():
            kids = _children()
            now = {name: _rss_mib(pid, kids) for name, pid in self.pids.items()}
            for name, mib in now.items():
                self.peak[name] = max(self.peak.get(name, 0.0), mib)
            self.peak_total = max(self.peak_total, sum(now.values()))
            self.stop.wait(self.interval_s)


# --- one variant ----------------------------------------------------------------------
VARIANTS = {"udf": ("--scoring", "udf"), "udf-row": ("--scoring", "udf-row"),
            "no-map": ("--scoring", "udf", "--without-liquidation-map")}


def _map_done(box: Sandbox, n_assets: int, last_minute_ms: int) -> bool:
    """Every asset's liquidation map of the workload's last minute is written."""
    (n,) = box.query(
        "SELECT count(DISTINCT base) AS n FROM liquidation_levels "
        f"WHERE window_start = to_timestamp({last_minute_ms} / 1000.0)")[0].values()
    return n >= n_assets


def run_variant(conn: Connections, workload: list, n_assets: int, minutes: int,
                scoring: str, rate: float | None = None) -> dict:
    cfg = load_config().pipeline
    box = Sandbox.create(conn, "bench")
    try:
        box.submit_job(*VARIANTS[scoring])
        sampler = RssSampler()
        sampler.start()
        producer = make_producer(conn.kafka_bootstrap)
        beats: list[tuple[int, float]] = []  # (heartbeat ts, wall time it was produced)
        next_beat = 0

        def beat(ts: int) -> None:
            heartbeat(producer, "bench", ts, topic_prefix=box.prefix)
            beats.append((ts, time.time()))

        t0, m0 = time.time(), time.monotonic()
        for i, e in enumerate(workload):
            if rate and i % 500 == 0:  # paced: hold the offered load at `rate` events/s
                poll_until(producer, m0 + i / rate)
            if e.ts >= next_beat:
                beat(e.ts)
                next_beat = e.ts - e.ts % 1000 + 1000
            while True:
                try:
                    producer.produce(box.prefix + e.topic, e.value, e.key, timestamp=e.ts)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        beat(workload[-1].ts + cfg.close_after_ms)
        producer.flush(120)
        t_produced = time.time()

        expected = n_assets * minutes
        last_minute = workload[-1].ts - workload[-1].ts % 60_000
        deadline = time.time() + 1800
        t_map = None
        while time.time() < deadline:
            (n,) = box.query("SELECT count(*) AS n FROM risk_scores "
                             "WHERE venue = 'all'")[0].values()
            # The map of the last minute, too: it must not finish after the timing ends.
            if t_map is None and (scoring == "no-map" or _map_done(box, n_assets, last_minute)):
                t_map = time.time()
            if n >= expected and t_map is not None:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{scoring}: only {n} of {expected} score rows (map done: "
                             f"{t_map is not None}) after 30 min")
        sampler.stop.set()
        rows = box.query("SELECT window_end, extract(epoch FROM written_at) AS w FROM risk_scores "
                         "WHERE venue = 'all'")
        t_done = max(max(float(r["w"]) for r in rows), t_map)

        # Window close: the first heartbeat whose watermark passes the window end.
        beat_ts = [b[0] for b in beats]
        latencies = []
        for r in rows:
            end_ms = int(r["window_end"].timestamp() * 1000) + cfg.watermark_delay_s * 1000
            i = bisect.bisect_left(beat_ts, end_ms)
            if i < len(beats):
                latencies.append(float(r["w"]) - beats[i][1])
        latencies.sort()
        state = box.job_state(box.jobs[-1])
        return {
            "scoring": scoring,
            "events": len(workload),
            "produce_s": t_produced - t0,
            "total_s": t_done - t0,
            "events_per_s": len(workload) / (t_done - t0),
            "produce_per_s": len(workload) / (t_produced - t0),
            "p50_s": statistics.median(latencies),
            "p99_s": latencies[int(0.99 * (len(latencies) - 1))],
            "rss": sampler.peak,
            "rss_total": sampler.peak_total,
            "job": state,
        }
    finally:
        box.destroy()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--minutes", type=int, default=40)
    ap.add_argument("--prices-per-minute", type=int, default=60)
    ap.add_argument("--variants", default="udf,udf-row",
                    help="comma-separated: udf (vectorized), udf-row (row at a time), "
                         "no-map (vectorized, without the liquidation-level map)")
    ap.add_argument("--rate", type=float,
                    help="offer this many events/s instead of as fast as possible "
                         "(latency at a live-like load)")
    args = ap.parse_args(argv)
    conn = Connections.from_env()

    t = time.time()
    workload = list(events(args.assets, args.minutes, args.prices_per_minute))
    mix: dict[str, int] = {}
    for e in workload:
        mix[e.topic] = mix.get(e.topic, 0) + 1
    print(f"workload: {len(workload):,} events, {args.assets} assets x 4 venues x "
          f"{args.minutes} min, generated in {time.time() - t:.1f} s")
    print("  mix: " + ", ".join(f"{k}={v:,}" for k, v in sorted(mix.items())))

    variants = args.variants.split(",")
    if unknown := [v for v in variants if v not in VARIANTS]:
        ap.error(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    results = [run_variant(conn, workload, args.assets, args.minutes, v, args.rate)
               for v in variants]
    print()
    print(f"{'scoring':8} {'events/s e2e':>13} {'produce/s':>10} {'total s':>8} "
          f"{'p50 s':>6} {'p99 s':>6} {'RSS MiB':>8}  job")
    for r in results:
        print(f"{r['scoring']:8} {r['events_per_s']:13,.0f} {r['produce_per_s']:10,.0f} "
              f"{r['total_s']:8.1f} {r['p50_s']:6.2f} {r['p99_s']:6.2f} {r['rss_total']:8.0f}  "
              f"{r['job']['state']}, {r['job']['failures']} failures")
    for r in results:
        print(f"peak RSS ({r['scoring']}): " + ", ".join(f"{k} {v:.0f} MiB"
                                                       for k, v in r["rss"].items()))
    if len(results) == 2:
        ratio = results[0]["events_per_s"] / results[1]["events_per_s"]
        print(f"\nratio {results[0]['scoring']}/{results[1]['scoring']} events/s: {ratio:.2f}")
    load = f"offered at {args.rate:,.0f} events/s" if args.rate else "under full load"
    print("latency = first write of a minute's score row minus the moment the heartbeat that "
          f"moved the watermark past that minute was produced ({load})")


if __name__ == "__main__":
    main()

"""End-to-end benchmark on the local stack: Kafka -> Flink -> PostgreSQL.

    python -m bench.pipeline [--assets 100 --minutes 40 --prices-per-minute 60]
    python -m bench.pipeline --minutes 10 --rate 5000     # latency at a live-like load

For each variant (vectorized pandas scoring UDFs, then row-at-a-time UDFs), in one run:
a fresh sandbox (own topics and database) and job; the whole event mix produced as fast as
the broker takes it, with heartbeats; then it waits until every minute is scored. Prints
events/s to the database, window-close-to-row latency, and peak RSS per service.
Figures, not assertions: this machine is noisy, so compare ratios from one run.
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import time

from bench.profile import (
    STATE,
    CpuProfile,
    JobWatcher,
    StackSampler,
    collapsed_summary,
    print_flame_summary,
    print_task_table,
    print_usage,
)
from bench.workload import events
from flink_jobs.config import load_config
from harness.sandbox import Sandbox
from lcm.kafka_io import heartbeat, make_producer, poll_until
from lcm.settings import Connections


# --- one variant ----------------------------------------------------------------------
def run_variant(conn: Connections, workload: list, n_assets: int, minutes: int,
                scoring: str, rate: float | None = None, flames: int = 0,
                cpu_profile: bool = False) -> dict:
    cfg = load_config().pipeline
    box = Sandbox.create(conn, "bench")
    try:
        job_id = box.submit_job("--scoring", scoring)
        sampler = StackSampler()
        sampler.start()
        watcher = JobWatcher(conn, job_id, flames)
        watcher.start()
        profiler = None
        if cpu_profile:
            out = STATE / "bench" / f"{scoring}-{time.strftime('%Y%m%d-%H%M%S')}.collapsed"
            out.parent.mkdir(parents=True, exist_ok=True)
            profiler = CpuProfile(out)
            profiler.start()
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
        deadline = time.time() + 1800
        while time.time() < deadline:
            (n,) = box.query("SELECT count(*) AS n FROM risk_scores "
                             "WHERE venue = 'all'")[0].values()
            if n >= expected:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{scoring}: only {n} of {expected} score rows after 30 min")
        usage = sampler.stop()
        profile = profiler.stop() if profiler else None
        tasks = watcher.stop()
        rows = box.query("SELECT window_end, extract(epoch FROM written_at) AS w FROM risk_scores "
                         "WHERE venue = 'all'")
        t_done = max(float(r["w"]) for r in rows)

        # Window close: the first heartbeat whose watermark passes the window end.
        beat_ts = [b[0] for b in beats]
        latencies = []
        for r in rows:
            end_ms = int(r["window_end"].timestamp() * 1000) + cfg.watermark_delay_s * 1000
            i = bisect.bisect_left(beat_ts, end_ms)
            if i < len(beats):
                latencies.append(float(r["w"]) - beats[i][1])
        latencies.sort()
        state = box.job_state(job_id)
        return {
            "scoring": scoring,
            "events": len(workload),
            "produce_s": t_produced - t0,
            "total_s": t_done - t0,
            "events_per_s": len(workload) / (t_done - t0),
            "produce_per_s": len(workload) / (t_produced - t0),
            "p50_s": statistics.median(latencies),
            "p99_s": latencies[int(0.99 * (len(latencies) - 1))],
            "usage": usage,
            "tasks": tasks,
            "flames": watcher.graphs,
            "cpu_profile": profile,
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
                    help="scoring UDF variants: udf (vectorized), udf-row (row at a time)")
    ap.add_argument("--rate", type=float,
                    help="offer this many events/s instead of as fast as possible "
                         "(latency at a live-like load)")
    ap.add_argument("--flames", type=int, default=0, metavar="N",
                    help="sample on-CPU flame graphs of the N busiest tasks under load "
                         "(needs rest.flamegraph.enabled, on in flink-conf/config.yaml)")
    ap.add_argument("--cpu-profile", action="store_true",
                    help="attach async-profiler to the TaskManager for each run and print "
                         "CPU per thread and the hottest frames (fetched with Maven once)")
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

    results = [run_variant(conn, workload, args.assets, args.minutes, v, args.rate, args.flames,
                           args.cpu_profile)
               for v in args.variants.split(",")]
    print()
    print(f"{'scoring':8} {'events/s e2e':>13} {'produce/s':>10} {'total s':>8} "
          f"{'p50 s':>6} {'p99 s':>6} {'RSS MiB':>8}  job")
    for r in results:
        print(f"{r['scoring']:8} {r['events_per_s']:13,.0f} {r['produce_per_s']:10,.0f} "
              f"{r['total_s']:8.1f} {r['p50_s']:6.2f} {r['p99_s']:6.2f} "
              f"{r['usage'].peak_total_mib:8.0f}  "
              f"{r['job']['state']}, {r['job']['failures']} failures")
    for r in results:
        print_usage(r["usage"], r["scoring"])
        print_task_table(r["tasks"], r["scoring"])
        for name, graph in r["flames"]:
            print_flame_summary(name, graph)
        if r["cpu_profile"]:
            print(f"\n{r['scoring']}: async-profiler, {r['cpu_profile']}")
            collapsed_summary(r["cpu_profile"])
    if len(results) == 2:
        ratio = results[0]["events_per_s"] / results[1]["events_per_s"]
        print(f"\nratio {results[0]['scoring']}/{results[1]['scoring']} events/s: {ratio:.2f}")
    load = f"offered at {args.rate:,.0f} events/s" if args.rate else "under full load"
    print("latency = first write of a minute's score row minus the moment the heartbeat that "
          f"moved the watermark past that minute was produced ({load})")


if __name__ == "__main__":
    main()

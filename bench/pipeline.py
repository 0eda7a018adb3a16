"""End-to-end benchmark on the local stack: Kafka -> Flink -> PostgreSQL.

    python -m bench.pipeline [--assets 100 --minutes 20 --prices-per-minute 60]
    python -m bench.pipeline --variants udf,udf-row,sql,no-map  # scoring styles, the map
    python -m bench.pipeline --variants @main,udf            # the job at a git revision vs now
    python -m bench.pipeline --variants udf,udf+execution.buffer-timeout.interval=10ms
    python -m bench.pipeline --rate 2000 --minutes 10        # latency at a live-like load
    python -m bench.pipeline --backlog                       # catch-up: topics full first

For each variant, in one run and on the same input: a fresh sandbox (own topics and
database) and job; the whole event mix produced as fast as the broker takes it (or at
--rate), with heartbeats; then it waits until every minute is scored and every asset's
liquidation-level map of the last minute is written. Prints events/s to the database,
window-close-to-row latency, CPU and peak RSS per service, and the job's per-task busy /
back-pressured / idle time; --cpu-profile and --flames add where the TaskManager's CPU
goes. With --backlog the input is in Kafka before the job starts, so the figure is the
job's own catch-up speed, with no producer on the same cores.

Variants: udf (vectorized pandas UDFs, the monitor), udf-row (row-at-a-time UDFs), sql
(the scores as SQL expressions instead of UDFs, bench/pure_sql.py and bench/sql/: what the
UDFs cost; with udf in the list the run prints vectorized UDFs / pure SQL: 0.85-0.95 on
5 minutes, README Performance), no-map
(udf without the liquidation-level map, to price the map), @REV (the job's SQL as of git
revision REV, e.g. @main: before/after in one run; its score rows are compared with the
first variant's), and any of them with +KEY=VALUE suffixes (a Flink option for that job
only; +jdbc:KEY=VALUE a JDBC sink option, +jdbc:url.NAME=VALUE a JDBC URL property) and
~SECTION.KEY=VALUE suffixes (a changed config/monitor.yaml, e.g. udf~pipeline.idle_timeout_s=2).
Figures, not assertions: this machine is noisy, so compare ratios from one run.
"""

from __future__ import annotations

import argparse
import bisect
import math
import re
import statistics
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import yaml

from bench import pure_sql
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
from bench.workload import Event, events
from flink_jobs.config import DEFAULT_CONFIG, load_config
from flink_jobs.sql_files import SQL_DIR
from harness.sandbox import Sandbox
from lcm.kafka_io import heartbeat, make_producer, poll_until
from lcm.paths import REPO_DIR
from lcm.pipeline import Pipeline
from lcm.settings import Connections

# The score columns two variants of the same job must write alike (e.g. @main vs udf).
SCORE_COLUMNS = ("risk", "side", "long_risk", "short_risk", "funding_pts", "oi_buildup_pts",
                 "imbalance_pts", "liquidation_pts", "liquidation_recent_pts", "price_move_pts",
                 "top_imbalance_pts", "pressure_pts", "confidence", "components", "data_age_s",
                 "pressure", "level")


# --- variants -------------------------------------------------------------------------------
@dataclass
class Variant:
    name: str
    job_args: list[str] = field(default_factory=list)
    config: Path | None = None  # a changed copy of config/monitor.yaml (~KEY=VALUE)

    @property
    def pipeline(self) -> Pipeline:
        return load_config(self.config).pipeline


def changed_config(name: str, changes: list[str]) -> Path:
    """config/monitor.yaml with `section.key=value` changes, validated like the real one."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for change in changes:
        key, _, value = change.partition("=")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise SystemExit(f"variant {name!r}: {key} is not a key of {DEFAULT_CONFIG.name}")
        node[leaf] = yaml.safe_load(value)
    out = STATE / "bench" / f"config-{abs(hash(name)):x}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_config(out)  # a bad value fails here, naming the file and the key
    return out


def sql_at_revision(rev: str) -> Path:
    """sql/flink/ as of git revision `rev`, as a variant directory: its files, plus an empty
    file for each step added since (so the job runs exactly the old steps)."""
    sha = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", rev],
                         capture_output=True, text=True)
    if sha.returncode != 0:
        raise SystemExit(f"variant @{rev}: not a git revision ({sha.stderr.strip()})")
    out = STATE / "bench" / f"sql-{sha.stdout.strip()}"
    out.mkdir(parents=True, exist_ok=True)
    tar = subprocess.run(["git", "-C", str(REPO_DIR), "archive", rev, "sql/flink"],
                         capture_output=True, check=True).stdout
    old = set()
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.endswith(".sql"):
                name = Path(member.name).name
                (out / name).write_bytes(archive.extractfile(member).read())
                old.add(name)
    for path in SQL_DIR.glob("*.sql"):
        if path.name not in old:
            (out / path.name).write_text("")
    return out


def pure_sql_dir(name: str, config: Path | None) -> Path:
    """The `sql` variant's SQL files (bench/pure_sql.py), with the scoring config of the
    variant (its ~changes included) written into them."""
    return pure_sql.write_variant(load_config(config).scoring,
                                  STATE / "bench" / f"sql-pure-{abs(hash(name)):x}")


def parse_variant(spec: str) -> Variant:
    base, *rest = re.split(r"(?=[+~])", spec)
    confs = [r[1:] for r in rest if r.startswith("+")]
    changes = [r[1:] for r in rest if r.startswith("~")]
    for conf in [*confs, *changes]:
        if "=" not in conf:
            raise SystemExit(f"variant {spec!r}: {conf!r} is not KEY=VALUE")
    config = changed_config(spec, changes) if changes else None
    args: list[str] = []
    if base == "udf":
        pass
    elif base == "udf-row":
        args = ["--scoring", "udf-row"]
    elif base == "sql":
        args = ["--sql-variant", str(pure_sql_dir(spec, config))]
    elif base == "no-map":
        args = ["--without-liquidation-map"]
    elif base.startswith("@"):
        args = ["--sql-variant", str(sql_at_revision(base[1:]))]
    else:
        raise SystemExit(f"variant {spec!r}: expected udf, udf-row, sql, no-map or @REV, "
                         "optionally with +KEY=VALUE")
    for conf in confs:
        if conf.startswith("jdbc:"):
            args += ["--jdbc", conf[5:]]
        else:
            args += ["--conf", conf]
    if config:
        args += ["--config", str(config)]
    return Variant(spec, args, config)


# An asset whose map of a minute is empty (no position the inputs can place yet, e.g. in a
# run of a few minutes) writes no liquidation_levels rows for it, so the map of the last
# minute counts as done when every asset has rows or, once every score row is written,
# when its number of assets has not changed for this long.
MAP_SETTLE_S = 15.0


def _map_assets(box: Sandbox, last_minute_ms: int) -> int:
    """How many assets have a liquidation map of the workload's last minute written."""
    (n,) = box.query(
        "SELECT count(DISTINCT base) AS n FROM liquidation_levels "
        f"WHERE window_start = to_timestamp({last_minute_ms} / 1000.0)")[0].values()
    return int(n)


# --- one run --------------------------------------------------------------------------------
def produce(box: Sandbox, conn: Connections, workload: list[Event], rate: float | None,
            close_after_ms: int) -> tuple[float, float, list[tuple[int, float]]]:
    """The workload with a heartbeat per second of event time and a final one that closes
    the last window; (start, end, [(heartbeat ts, wall time produced)])."""
    producer = make_producer(conn.kafka_bootstrap)
    beats: list[tuple[int, float]] = []
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
    beat(workload[-1].ts + close_after_ms)
    producer.flush(120)
    return t0, time.time(), beats


def run_variant(conn: Connections, workload: list[Event], n_assets: int, minutes: int,
                variant: Variant, rate: float | None = None, flames: int = 0,
                cpu_profile: bool = False, backlog: bool = False) -> dict:
    cfg = variant.pipeline
    with_map = "--without-liquidation-map" not in variant.job_args
    box = Sandbox.create(conn, "bench")
    try:
        if backlog:
            t0, t_produced, beats = produce(box, conn, workload, None, cfg.close_after_ms)
        job_id = box.submit_job(*variant.job_args)
        sampler = StackSampler()
        sampler.start()
        watcher = JobWatcher(conn, job_id, flames)
        watcher.start()
        profiler = None
        if cpu_profile:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = STATE / "bench" / f"{variant.name.replace('/', '_')}-{stamp}.collapsed"
            out.parent.mkdir(parents=True, exist_ok=True)
            profiler = CpuProfile(out)
            profiler.start()
        if backlog:
            t0 = time.time()  # the job is running: from here it only catches up
        else:
            t0, t_produced, beats = produce(box, conn, workload, rate, cfg.close_after_ms)

        expected = n_assets * minutes
        last_minute = workload[-1].ts - workload[-1].ts % 60_000
        deadline = time.time() + 1800
        t_map = None
        map_seen, map_since = -1, time.time()  # the map's asset count and since when
        while time.time() < deadline:
            (n,) = box.query("SELECT count(*) AS n FROM risk_scores "
                             "WHERE venue = 'all'")[0].values()
            # The map of the last minute, too: it must not finish after the timing ends.
            if t_map is None and not with_map:
                t_map = time.time()
            elif t_map is None:
                assets = _map_assets(box, last_minute)
                if assets != map_seen:
                    map_seen, map_since = assets, time.time()
                if assets >= n_assets or (assets > 0 and n >= expected
                                          and time.time() - map_since >= MAP_SETTLE_S):
                    t_map = map_since
            if n >= expected and t_map is not None:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"{variant.name}: only {n} of {expected} score rows (map done: "
                             f"{t_map is not None}) after 30 min")
        usage = sampler.stop()
        profile = profiler.stop() if profiler else None
        tasks = watcher.stop()
        rows = box.query("SELECT window_end, extract(epoch FROM written_at) AS w FROM risk_scores "
                         "WHERE venue = 'all'")
        t_done = max(max(float(r["w"]) for r in rows), t_map)

        # Window close: the first heartbeat whose watermark passes the window end (in
        # backlog mode every window had closed in Kafka before the job started).
        beat_ts = [b[0] for b in beats]
        latencies = []
        for r in rows:
            end_ms = int(r["window_end"].timestamp() * 1000) + cfg.watermark_delay_s * 1000
            i = bisect.bisect_left(beat_ts, end_ms)
            if i < len(beats):
                latencies.append(float(r["w"]) - max(beats[i][1], t0))
        latencies.sort()
        scores = box.query(f"SELECT base, venue, window_start, {', '.join(SCORE_COLUMNS)} "
                           "FROM risk_scores")
        return {
            "name": variant.name,
            "events": len(workload),
            "produce_s": t_produced - t0,
            "total_s": t_done - t0,
            "events_per_s": len(workload) / (t_done - t0),
            "produce_per_s": None if backlog else len(workload) / (t_produced - t0),
            "p50_s": statistics.median(latencies),
            "p99_s": latencies[int(0.99 * (len(latencies) - 1))],
            "usage": usage,
            "tasks": tasks,
            "flames": watcher.graphs,
            "cpu_profile": profile,
            "job": box.job_state(job_id),
            "scores": {(r["base"], r["venue"], r["window_start"]): r for r in scores},
        }
    finally:
        box.destroy()


def compare_scores(a: dict, b: dict) -> tuple[int, list]:
    """(rows compared, differences) between two runs' risk_scores on the same input."""
    def close(x: object, y: object) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
        return x == y

    diffs = [(k, c, a[k][c] if k in a else "missing", b[k][c] if k in b else "missing")
             for k in sorted(set(a) | set(b)) for c in SCORE_COLUMNS
             if k not in a or k not in b or not close(a[k][c], b[k][c])]
    return len(set(a) | set(b)), diffs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", type=int, default=100)
    ap.add_argument("--minutes", type=int, default=20)
    ap.add_argument("--prices-per-minute", type=int, default=60)
    ap.add_argument("--variants", default="udf,udf-row",
                    help="comma-separated: udf, udf-row, sql, no-map, @REV, each optionally with "
                         "+KEY=VALUE Flink options (default udf,udf-row)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the variant list this many times (ABAB...), to see the noise")
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the short warm-up job (it lets the TaskManager's JIT compile "
                         "Flink's code once, so the first variant is not penalized)")
    ap.add_argument("--rate", type=float,
                    help="offer this many events/s instead of as fast as possible "
                         "(latency at a live-like load)")
    ap.add_argument("--backlog", action="store_true",
                    help="produce everything before the job starts: the job's catch-up speed")
    ap.add_argument("--flames", type=int, default=0, metavar="N",
                    help="sample on-CPU flame graphs of the N busiest tasks under load "
                         "(needs rest.flamegraph.enabled, on in flink-conf/config.yaml)")
    ap.add_argument("--cpu-profile", action="store_true",
                    help="attach async-profiler to the TaskManager for each run and print "
                         "CPU per thread and the hottest frames (fetched with Maven once)")
    args = ap.parse_args(argv)
    if args.rate and args.backlog:
        ap.error("--rate and --backlog exclude each other")
    conn = Connections.from_env()
    variants = [parse_variant(v) for v in args.variants.split(",")]

    t = time.time()
    workload = list(events(args.assets, args.minutes, args.prices_per_minute))
    mix: dict[str, int] = {}
    for e in workload:
        mix[e.topic] = mix.get(e.topic, 0) + 1
    print(f"workload: {len(workload):,} events, {args.assets} assets x 4 venues x "
          f"{args.minutes} min, generated in {time.time() - t:.1f} s")
    print("  mix: " + ", ".join(f"{k}={v:,}" for k, v in sorted(mix.items())), flush=True)

    if not args.no_warmup:
        warm = list(events(args.assets, 3, args.prices_per_minute, seed=1))
        r = run_variant(conn, warm, args.assets, 3, variants[0], backlog=True)
        print(f"warm-up ({variants[0].name}, {len(warm):,} events): "
              f"{r['events_per_s']:,.0f} events/s", flush=True)

    results = []
    for round_ in range(args.repeat):
        for v in variants:
            r = run_variant(conn, workload, args.assets, args.minutes, v, args.rate,
                            args.flames, args.cpu_profile, args.backlog)
            r["round"] = round_ + 1
            results.append(r)
            print(f"  {v.name} (round {round_ + 1}): {r['events_per_s']:,.0f} events/s",
                  flush=True)

    print()
    mode = ("backlog (input in Kafka before the job started)" if args.backlog
            else f"offered at {args.rate:,.0f} events/s" if args.rate
            else "produced as fast as the broker takes it, job running")
    print(f"mode: {mode}")
    print(f"{'variant':34} {'events/s e2e':>13} {'produce/s':>10} {'total s':>8} "
          f"{'p50 s':>6} {'p99 s':>6} {'RSS MiB':>8}  job")
    for r in results:
        produce_s = f"{r['produce_per_s']:10,.0f}" if r["produce_per_s"] else f"{'-':>10}"
        print(f"{r['name'][:34]:34} {r['events_per_s']:13,.0f} {produce_s} "
              f"{r['total_s']:8.1f} {r['p50_s']:6.2f} {r['p99_s']:6.2f} "
              f"{r['usage'].peak_total_mib:8.0f}  "
              f"{r['job']['state']}, {r['job']['failures']} failures")
    by_name: dict[str, list[float]] = {}
    for r in results:
        by_name.setdefault(r["name"], []).append(r["events_per_s"])
    first = variants[0].name
    if len(by_name) > 1:
        print(f"\nratios of median events/s to {first}:")
        ref = statistics.median(by_name[first])
        for name, values in by_name.items():
            print(f"  {name:34} {statistics.median(values) / ref:6.2f}")
    # What the scoring UDFs cost: each sql variant against udf with the same suffixes.
    for name in by_name:
        if name.startswith("sql") and "udf" + name[3:] in by_name:
            ratio = statistics.median(by_name["udf" + name[3:]]) / statistics.median(
                by_name[name])
            print(f"\nvectorized UDFs / pure SQL ({name}), median events/s: {ratio:.2f}")
    # No behaviour change: every variant writes the first one's score rows on this input.
    ref_run = results[0]
    for r in results[1:]:
        n, diffs = compare_scores(ref_run["scores"], r["scores"])
        verdict = "the same" if not diffs else f"{len(diffs)} values differ, first {diffs[:3]}"
        print(f"  score rows of {r['name']} vs {ref_run['name']} ({n:,} rows): {verdict}")
    for r in results:
        title = f"{r['name']} (round {r['round']})"
        print_usage(r["usage"], title)
        print_task_table(r["tasks"], title)
        for name, graph in r["flames"]:
            print_flame_summary(name, graph)
        if r["cpu_profile"]:
            print(f"\n{title}: async-profiler, {r['cpu_profile']}")
            collapsed_summary(r["cpu_profile"])
    print("\nlatency = first write of a minute's score row minus the moment the heartbeat "
          "that moved the watermark past that minute was produced (in backlog mode: minus "
          "the job's start)")
    for v in variants:
        p = v.pipeline
        print(f"  {v.name}: watermark delay {p.watermark_delay_s} s, idle timeout "
              f"{p.idle_timeout_s} s")


if __name__ == "__main__":
    main()

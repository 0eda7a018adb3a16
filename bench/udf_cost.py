"""Cost of the scoring UDFs per window row, vectorized (pandas) versus row-at-a-time,
measured in jobs on the running Flink cluster (the TaskManager's Python workers, as in the
monitor's job).

    python -m bench.udf_cost [--rows 200000] [--repeat 2]

Each job reads generated window-shaped rows (the inputs of LIQUIDATION_RISK, some NULL,
values across every threshold) and writes LIQUIDATION_RISK of each row to a blackhole sink;
a baseline job writes the inputs without calling any UDF. Every variant runs at --rows and
at a tenth of it: the slope between the two job durations (the cluster's own, from REST,
so the client's start-up is not counted), minus the baseline's slope, is the cost per row;
the intercept is the fixed cost (starting the Python worker). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import time

from pyflink.table import EnvironmentSettings, TableEnvironment

from flink_jobs import scoring, udfs
from flink_jobs.config import load_config
from harness.sandbox import flink_rest
from lcm.settings import Connections

# (column, min, max, null rate): each signal now and its history (count, sum, sum of squares).
COLUMNS = [c for s in scoring.SIGNALS for c in (
    (s, -3, 3, 0.1), (f"{s}_n", 0, 1440, 0.0), (f"{s}_sum", -200, 200, 0.0),
    (f"{s}_sumsq", 0, 6000, 0.0))]
VARIANTS = ("none", "vectorized", "row-at-a-time")


def _env(conn: Connections, variant: str) -> TableEnvironment:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    host, port = conn.flink_rest.removeprefix("http://").split(":")
    conf = env.get_config()
    conf.set("execution.target", "remote")
    conf.set("rest.address", host)
    conf.set("rest.port", port)
    conf.set("parallelism.default", "1")
    conf.set("pipeline.name", f"bench-udf-cost-{variant}")
    if variant != "none":
        udfs.register(env, load_config().scoring, vectorized=variant == "vectorized")
    return env


def run(conn: Connections, variant: str, rows: int) -> float:
    """Duration in seconds of one job, as the cluster measured it."""
    env = _env(conn, variant)
    fields = ",\n".join(f"{name} DOUBLE" for name, *_ in COLUMNS)
    options = ",\n".join(
        f"'fields.{name}.min' = '{lo}', 'fields.{name}.max' = '{hi}', "
        f"'fields.{name}.null-rate' = '{null}'" for name, lo, hi, null in COLUMNS)
    env.execute_sql(f"CREATE TEMPORARY TABLE rows_in ({fields}) WITH ("
                    f"'connector' = 'datagen', 'number-of-rows' = '{rows}', "
                    f"'rows-per-second' = '100000000', {options})")  # default: 10,000/s
    args = ", ".join(scoring.RISK_INPUTS)
    if variant == "none":
        env.execute_sql("CREATE TEMPORARY TABLE rows_out (a DOUBLE, b DOUBLE) "
                        "WITH ('connector' = 'blackhole')")
        sql = "INSERT INTO rows_out SELECT funding_8h + oi_usd, long_share FROM rows_in"
    else:
        env.execute_sql("CREATE TEMPORARY TABLE rows_out (risk DOUBLE, side STRING) "
                        "WITH ('connector' = 'blackhole')")
        sql = (f"INSERT INTO rows_out SELECT r.risk, r.side FROM "
               f"(SELECT LIQUIDATION_RISK({args}) AS r FROM rows_in)")
    client = env.execute_sql(sql).get_job_client()
    job_id = str(client.get_job_id())
    while (info := flink_rest(f"/jobs/{job_id}", conn))["state"] not in (
            "FINISHED", "FAILED", "CANCELED"):
        time.sleep(0.5)
    if info["state"] != "FINISHED":
        raise SystemExit(f"{variant}: job {job_id} ended {info['state']}")
    return info["duration"] / 1000


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.udf_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs per job; the best counts")
    args = ap.parse_args(argv)
    conn = Connections.from_env()
    sizes = (args.rows // 10, args.rows)
    best: dict[tuple[str, int], float] = {}
    for _ in range(args.repeat):
        for variant in VARIANTS:
            for n in sizes:
                seconds = run(conn, variant, n)
                best[(variant, n)] = min(best.get((variant, n), seconds), seconds)
                print(f"  {variant:14} {n:9,} rows {seconds:7.2f} s", flush=True)

    def slope(variant: str) -> float:
        return (best[(variant, sizes[1])] - best[(variant, sizes[0])]) / (sizes[1] - sizes[0])

    base = slope("none")
    print(f"\nscoring UDF LIQUIDATION_RISK on the cluster, {sizes[0]:,} and {sizes[1]:,} rows, "
          f"best of {args.repeat}")
    print(f"{'variant':14} {'us/row':>8} {'rows/s':>10} {'fixed s':>8}")
    cost = {}
    for variant in VARIANTS[1:]:
        cost[variant] = slope(variant) - base
        fixed = best[(variant, sizes[1])] - slope(variant) * sizes[1] - best[("none", sizes[1])] \
            + base * sizes[1]
        print(f"{variant:14} {cost[variant] * 1e6:8.2f} {1 / cost[variant]:10,.0f} {fixed:8.2f}")
    print(f"\nrow-at-a-time / vectorized cost per row: "
          f"{cost['row-at-a-time'] / cost['vectorized']:.1f}x")


if __name__ == "__main__":
    main()

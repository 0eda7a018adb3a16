"""Print what the job wrote: scores per asset and minute, and the alerts, read back from
PostgreSQL with the read-only role. `python -m report.summary --help`.
"""

from __future__ import annotations

import argparse
import sys
import time

import psycopg

from lcm.cli import EPILOG, add_version, run
from lcm.settings import Connections

SCORES = """
SELECT r.window_start, r.base, r.side, r.risk, r.long_risk, r.short_risk, r.funding_pts,
       r.oi_buildup_pts, r.imbalance_pts, r.liquidation_pts, r.confidence, r.data_age_s,
       r.pressure, r.level
FROM risk_scores r
WHERE r.venue = 'all'
  AND r.window_start >= (SELECT max(window_start) FROM risk_scores) - make_interval(mins => %s)
ORDER BY r.base, r.window_start
"""
ALERTS = """
SELECT window_start, base, previous_level, level, side, risk, pressure, confidence
FROM alerts ORDER BY window_start DESC, base LIMIT %s
"""


def _f(x: float | None, fmt: str = "{:6.1f}") -> str:
    return fmt.format(x) if x is not None else "     -"


def wait_until(conn: Connections, until: str, timeout_s: float) -> bool:
    """Wait for a risk row at or after `until` (ISO time): the last window has closed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(conn.dsn("reader")) as db:
            (n,) = db.execute("SELECT count(*) FROM risk_scores WHERE venue = 'all' "
                              "AND window_start >= %s",
                              (until,)).fetchone()
        if n:
            return True
        time.sleep(2)
    return False


def print_summary(conn: Connections, minutes: int, alerts: int) -> None:
    with psycopg.connect(conn.dsn("reader")) as db:
        rows = db.execute(SCORES, (minutes,)).fetchall()
        recent = db.execute(ALERTS, (alerts,)).fetchall()
        counts = db.execute(
            "SELECT (SELECT count(*) FROM features_1m), (SELECT count(*) FROM liquidations),"
            " (SELECT count(*) FROM dead_letters)").fetchone()
    print(f"\nLiquidation Risk (0-100, all venues; points of the side shown) and Stablecoin "
          f"Pressure (-100..+100), last {minutes} min")
    print(f"{'minute (UTC)':17} {'asset':5} {'side':5} {'risk':>6} {'long':>6} {'short':>6} "
          f"{'fund':>6} {'oi':>6} {'l/s':>6} {'liq':>6} {'conf':>5} {'age s':>6} {'press':>6}"
          f"  level")
    for r in rows:
        print(f"{r[0]:%Y-%m-%d %H:%M} {r[1]:5} {r[2]:5} {_f(r[3])} {_f(r[4])} {_f(r[5])} "
              f"{_f(r[6])} {_f(r[7])} {_f(r[8])} {_f(r[9])} {_f(r[10], '{:5.2f}')} "
              f"{_f(r[11], '{:6.0f}')} {_f(r[12])}  {r[13] or ''}")
    print(f"\nAlerts (changes of an asset's alert state), newest first, {len(recent)} shown")
    for a in recent:
        print(f"{a[0]:%Y-%m-%d %H:%M} {a[1]:5} {a[2] or 'none':>8} -> {a[3]:8} {a[4]:5} "
              f"risk {a[5]:5.1f}  pressure {_f(a[6])}  confidence {a[7]:.2f}")
    print(f"\nrows: features_1m={counts[0]} liquidations={counts[1]} dead_letters={counts[2]}")


def main(argv: list[str] | None = None) -> int:
    return run("lcm-summary", lambda: _main(argv))


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lcm-summary", description=__doc__, epilog=EPILOG)
    add_version(ap)
    ap.add_argument("--minutes", type=int, default=15, help="how many recent minutes to show")
    ap.add_argument("--alerts", type=int, default=20, help="how many recent alerts to show")
    ap.add_argument("--wait-until", metavar="ISO_TIME",
                    help="first wait for the minute starting at this time to be scored")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait at most")
    args = ap.parse_args(argv)
    conn = Connections.from_env()
    if args.wait_until and not wait_until(conn, args.wait_until, args.timeout):
        print(f"no scores for {args.wait_until} after {args.timeout:.0f} s; is the job running? "
              f"See {conn.flink_rest}", file=sys.stderr)
        return 1
    print_summary(conn, args.minutes, args.alerts)
    return 0


if __name__ == "__main__":
    sys.exit(main())

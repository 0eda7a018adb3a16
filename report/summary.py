"""Print what the job wrote: the all-venue scores per asset and minute, and the alerts,
read back from PostgreSQL with the read-only role.

  python -m report.summary                                  # the last 15 scored minutes
  python -m report.summary --asset BTC,ETH --from 2026-11-20T14:00Z --to 2026-11-20T14:15Z
  python -m report.summary --asset BTC --json               # the same as one JSON object

Times are ISO-8601, UTC unless they say otherwise. Exit status: 0 printed, 1 nothing to
print or the database is unreachable or not initialised, 2 a usage or configuration error
(a bad argument, no password for the reader role).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from lcm.cli import EPILOG, RuntimeFailure, add_version
from lcm.cli import run as run_cli
from lcm.settings import Connections
from report.grafana_sql import TimeRange

SCORE_COLUMNS = ("window_start", "base", "side", "risk", "long_risk", "short_risk",
                 "funding_pts", "oi_buildup_pts", "imbalance_pts", "liquidation_pts",
                 "confidence", "data_age_s", "pressure", "level")
ALERT_COLUMNS = ("window_start", "base", "previous_level", "level", "side", "risk", "pressure",
                 "confidence")
# Rows of the all-venue scores (the asset's alert state) in [start, end), of some assets.
SCORES = f"""
SELECT {", ".join(SCORE_COLUMNS)}
FROM risk_scores
WHERE venue = 'all' AND window_start >= %(start)s
  AND (%(end)s::timestamptz IS NULL OR window_start < %(end)s)
  AND (%(assets)s::text[] IS NULL OR base = ANY(%(assets)s))
ORDER BY base, window_start
"""
LATEST = """
SELECT max(window_start) FROM risk_scores
WHERE venue = 'all' AND (%(assets)s::text[] IS NULL OR base = ANY(%(assets)s))
"""
ALERTS = f"""
SELECT {", ".join(ALERT_COLUMNS)}
FROM alerts
WHERE (%(start)s::timestamptz IS NULL OR window_start >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR window_start < %(end)s)
  AND (%(assets)s::text[] IS NULL OR base = ANY(%(assets)s))
ORDER BY window_start DESC, base LIMIT %(limit)s
"""
COUNTS = ("SELECT (SELECT count(*) FROM features_1m) AS features_1m, "
          "(SELECT count(*) FROM liquidations) AS liquidations, "
          "(SELECT count(*) FROM dead_letters) AS dead_letters")


class Failure(RuntimeFailure):
    """An expected failure: printed as one line, exit status 1 (lcm.cli)."""


@dataclass(frozen=True)
class Query:
    assets: list[str] | None
    start: datetime | None  # None: `minutes` before the end
    end: datetime | None  # None: up to the newest scored minute
    minutes: int
    alerts: int


@dataclass
class Summary:
    start: datetime
    end: datetime | None
    scores: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    counts: dict[str, int]


def _f(x: float | None, fmt: str = "{:6.1f}") -> str:
    return fmt.format(x) if x is not None else "     -"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def read(db: psycopg.Connection, q: Query) -> Summary:
    params: dict[str, Any] = {"assets": q.assets, "end": q.end, "limit": q.alerts}
    if q.start is not None:
        start = q.start
    elif q.end is not None:
        start = q.end - timedelta(minutes=q.minutes)
    else:
        latest = db.execute(LATEST, params).fetchone()
        if latest is None or latest["max"] is None:
            which = f" for {', '.join(q.assets)}" if q.assets else ""
            raise Failure(f"no scores{which} in the database yet; is the job running and "
                          "fed (make demo, python -m ingest)?")
        start = latest["max"] - timedelta(minutes=q.minutes)
    scores = db.execute(SCORES, {**params, "start": start}).fetchall()
    # Without a range: the newest alerts, whenever they were; with one: those inside it.
    ranged = q.start is not None or q.end is not None
    alerts = db.execute(ALERTS, {**params, "start": start if ranged else None}).fetchall()
    counts = db.execute(COUNTS).fetchone() or {}
    return Summary(start, q.end, scores, alerts, dict(counts))


def print_text(s: Summary, q: Query) -> None:
    if q.start is None and q.end is None:
        span = f"last {q.minutes} min"
    else:
        end = f"{_utc(s.end):%Y-%m-%d %H:%M}" if s.end else "now"
        span = f"{_utc(s.start):%Y-%m-%d %H:%M} to {end} UTC"
    if q.assets:
        span += f", {', '.join(q.assets)}"
    print(f"\nLiquidation Risk (0-100, all venues; points of the side shown) and Stablecoin "
          f"Pressure (-100..+100), {span}")
    print(f"{'minute (UTC)':17} {'asset':5} {'side':5} {'risk':>6} {'long':>6} {'short':>6} "
          f"{'fund':>6} {'oi':>6} {'l/s':>6} {'liq':>6} {'conf':>5} {'age s':>6} {'press':>6}"
          f"  level")
    for r in s.scores:
        print(f"{_utc(r['window_start']):%Y-%m-%d %H:%M} {r['base']:5} {r['side'] or '':5} "
              f"{_f(r['risk'])} {_f(r['long_risk'])} {_f(r['short_risk'])} "
              f"{_f(r['funding_pts'])} {_f(r['oi_buildup_pts'])} {_f(r['imbalance_pts'])} "
              f"{_f(r['liquidation_pts'])} {_f(r['confidence'], '{:5.2f}')} "
              f"{_f(r['data_age_s'], '{:6.0f}')} {_f(r['pressure'])}  {r['level'] or ''}")
    print(f"\nAlerts (changes of an asset's alert state), newest first, {len(s.alerts)} shown")
    for a in s.alerts:
        print(f"{_utc(a['window_start']):%Y-%m-%d %H:%M} {a['base']:5} "
              f"{a['previous_level'] or 'none':>8} -> {a['level']:8} {a['side'] or '':5} "
              f"risk {_f(a['risk'], '{:5.1f}')}  pressure {_f(a['pressure'])}  "
              f"confidence {_f(a['confidence'], '{:.2f}')}")
    c = s.counts
    print(f"\nrows: features_1m={c.get('features_1m')} liquidations={c.get('liquidations')} "
          f"dead_letters={c.get('dead_letters')}")


def _iso(value: Any) -> Any:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value


def as_json(s: Summary, q: Query) -> dict[str, Any]:
    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {k: _iso(v) for k, v in r.items()}

    return {"from": _iso(s.start), "to": _iso(s.end), "assets": q.assets,
            "scores": [row(r) for r in s.scores], "alerts": [row(a) for a in s.alerts],
            "rows": s.counts}


def wait_until(dsn: str, until: datetime, timeout_s: float) -> bool:
    """Wait for an all-venue score row at or after `until`: the last window has closed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(dsn, connect_timeout=5) as db:
            (n,) = db.execute("SELECT count(*) FROM risk_scores WHERE venue = 'all' "
                              "AND window_start >= %s", (until,)).fetchone()
        if n:
            return True
        time.sleep(2)
    return False


def _time(text: str) -> datetime:
    try:
        return TimeRange.parse(text, text).start
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time ({exc})") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def parse_args(argv: list[str] | None,
               prog: str = "python -m report.summary") -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1] + EPILOG)
    add_version(ap)
    ap.add_argument("--asset", action="append", default=None,
                    help="asset(s) to show, e.g. BTC; repeat or comma-separate (default: all)")
    ap.add_argument("--from", dest="start", type=_time,
                    help="first minute to show (default: --minutes before --to)")
    ap.add_argument("--to", dest="end", type=_time,
                    help="show minutes before this time (default: up to the newest scored)")
    ap.add_argument("--minutes", type=_positive, default=15,
                    help="without --from: how many minutes to show (default: 15)")
    ap.add_argument("--alerts", type=_positive, default=20,
                    help="how many alerts to show at most, newest first (default: 20)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    ap.add_argument("--database", help="database name (default: LCM_DB from the environment "
                                       "or .env)")
    ap.add_argument("--wait-until", metavar="ISO_TIME", type=_time,
                    help="first wait for the minute starting at this time to be scored")
    ap.add_argument("--timeout", type=float, default=180,
                    help="seconds --wait-until waits at most (default: 180)")
    args = ap.parse_args(argv)
    if args.start and args.end and args.start >= args.end:
        ap.error(f"--from {args.start:%Y-%m-%dT%H:%MZ} is not before --to "
                 f"{args.end:%Y-%m-%dT%H:%MZ}")
    args.asset = sorted({a.strip().upper() for item in args.asset or []
                         for a in item.split(",") if a.strip()}) or None
    return args


def run(args: argparse.Namespace) -> int:
    conn = Connections.from_env()
    dsn = conn.dsn("reader", dbname=args.database)
    where = f"PostgreSQL at {conn.pg_host}:{conn.pg_port}, database {args.database or conn.pg_db}"
    try:
        if args.wait_until and not wait_until(dsn, args.wait_until, args.timeout):
            raise Failure(f"no scores for {args.wait_until:%Y-%m-%d %H:%M} UTC after "
                          f"{args.timeout:.0f} s; is the job running? See {conn.flink_rest}")
        q = Query(args.asset, args.start, args.end, args.minutes, args.alerts)
        with psycopg.connect(dsn, connect_timeout=5, row_factory=dict_row) as db:
            summary = read(db, q)
    except psycopg.errors.UndefinedTable as exc:
        raise Failure(f"{where} has no monitor schema ({str(exc).splitlines()[0]}); "
                      "run 'make db-init'") from None
    except psycopg.OperationalError as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                      type(exc).__name__)
        raise Failure(f"cannot read {where}: cannot reach the database ({reason}). Is it up "
                      "(make up), and are PGHOST, PGPORT, LCM_DB and the passwords in .env "
                      "right?") from None
    if args.json:
        print(json.dumps(as_json(summary, q), indent=1))
        return 0
    if not summary.scores:
        which = f" for {', '.join(q.assets)}" if q.assets else ""
        raise Failure(f"no scores{which} between {_utc(summary.start):%Y-%m-%d %H:%M} and "
                      f"{f'{_utc(summary.end):%Y-%m-%d %H:%M}' if summary.end else 'now'} UTC")
    print_text(summary, q)
    return 0


def main(argv: list[str] | None = None) -> int:
    prog = _prog()
    # Usage errors: argparse prints them and exits with 2; a missing password or a bad
    # setting is a configuration error (2); Failure, what went wrong at run time (1).
    return run_cli(prog.removeprefix("python -m "), lambda: run(parse_args(argv, prog)))


def _prog() -> str:
    """The name the user typed: lcm-summary (the installed command) or python -m."""
    return "lcm-summary" if Path(sys.argv[0]).name == "lcm-summary" else \
        "python -m report.summary"


if __name__ == "__main__":
    sys.exit(main())

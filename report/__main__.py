"""python -m report: PNG charts and an HTML page for a time range straight from the database
(read-only role).

  python -m report --from 2026-11-20T14:00Z --to 2026-11-20T14:15Z --asset BTC --out report-out
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from lcm import links
from lcm.cli import EPILOG, add_version, run
from lcm.settings import ConfigError, Connections
from report import page
from report.charts import NoData, PanelReader, render
from report.grafana_sql import GrafanaSqlError, TimeRange


def _time(text: str) -> datetime:
    try:
        return TimeRange.parse(text, text).start
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time ({exc})") from None


def main(argv: list[str] | None = None) -> int:
    return run("lcm-report", lambda: _main(argv))


def _main(argv: list[str] | None = None) -> int:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    p = argparse.ArgumentParser(
        prog="lcm-report", epilog=EPILOG,
        description="Draw the monitor's charts for a time range as PNG files and an HTML page "
                    "(index.html, opens offline) from the same SQL the Grafana panels run, "
                    "with the read-only database role: price with alerts, risk with its "
                    "components, liquidations long vs short and the estimated liquidation "
                    "levels (per asset), the market-wide Stablecoin Pressure, the latest "
                    "scores and the alert history with links to Grafana.")
    add_version(p)
    p.add_argument("--from", dest="start", type=_time, default=None,
                   help="start, ISO-8601, UTC unless it says otherwise (default: 6 h before --to)")
    p.add_argument("--to", dest="end", type=_time, default=now,
                   help="end, ISO-8601 (default: now)")
    p.add_argument("--asset", action="append", default=None,
                   help="asset to draw, e.g. BTC; repeat or comma-separate for several "
                        "(default: the assets Overview shows: the top 20 by open interest "
                        "and any in WARNING or above)")
    p.add_argument("--out", type=Path, default=Path("report-out"),
                   help="directory for the PNG files and index.html (default: report-out)")
    p.add_argument("--grafana-url", default=None,
                   help="Grafana address the page links to (default: LCM_GRAFANA_URL from "
                        "the environment or .env, else http://127.0.0.1:$GRAFANA_PORT)")
    p.add_argument("--database", default=None,
                   help="database name (default: LCM_DB from the environment or .env)")
    args = p.parse_args(argv)
    start = args.start or args.end - timedelta(hours=6)
    assets = [a.strip() for item in args.asset or [] for a in item.split(",") if a.strip()]
    try:
        rng = TimeRange(start, args.end)
        grafana = (links.grafana_url() if args.grafana_url is None
                   else links.check_grafana_url(args.grafana_url))
        conn = Connections.from_env()
        dsn = conn.dsn("reader", dbname=args.database)
    except (ConfigError, ValueError) as exc:  # usage or configuration
        print(f"lcm-report: {exc}", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as db:
            paths = render(db, rng, assets or None, args.out)
            reader = PanelReader(db, rng)
            paths.append(page.write(reader, assets or reader.assets(), paths, args.out,
                                    grafana))
    except (NoData, GrafanaSqlError, ValueError) as exc:
        print(f"lcm-report: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"lcm-report: cannot reach the database ({exc}); is PostgreSQL up (make up)?",
              file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

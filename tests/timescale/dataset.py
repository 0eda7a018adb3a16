"""One small dataset of one-minute rows, loaded into both schema branches, and the rollup
values it must give (computed here in Python, independently of either branch).

Three hours and seven minutes for two assets and two venues, so the last 5-minute and the
last hourly bucket are partial; NULL prices, open interest, liquidations and pressures
in places, so "last non-NULL" and NULL-skipping averages are exercised.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from statistics import fmean

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MINUTES = 187
BASES = ("BTC", "ETH")
VENUES = ("all", "binance")

FEATURE_COLS = ("base", "venue", "window_start", "window_end", "price", "funding_8h", "oi_usd",
                "long_share", "liq_long_usd", "liq_short_usd", "liq_count", "events")
RISK_COLS = ("base", "venue", "window_start", "window_end", "risk", "side", "long_risk",
             "short_risk", "confidence", "components", "pressure")
PRESSURE_COLS = ("window_start", "window_end", "inflow_usd", "outflow_usd", "internal_usd",
                 "transfers", "pressure")


def minutes() -> list[tuple[int, datetime]]:
    return [(i, START + timedelta(minutes=i)) for i in range(MINUTES)]


def features() -> list[tuple]:
    rows = []
    for b, base in enumerate(BASES):
        for v, venue in enumerate(VENUES):
            for i, t in minutes():
                k = i + 11 * b + 5 * v
                rows.append((base, venue, t, t + timedelta(minutes=1),
                             None if k % 7 == 3 else 100.0 + k,      # price
                             0.0001 * (k % 13 - 6),                  # funding_8h
                             None if k % 5 == 4 else 1e6 + 10 * k,   # oi_usd
                             0.4 + (k % 10) / 50,                    # long_share
                             None if k % 4 else 1000.0 + k,          # liq_long_usd
                             None if k % 6 else 500.0 + k,           # liq_short_usd
                             k % 3, 10 + k % 17))                    # liq_count, events
    return rows


def risk_scores() -> list[tuple]:
    rows = []
    for b, base in enumerate(BASES):
        for v, venue in enumerate(VENUES):
            for i, t in minutes():
                k = i + 11 * b + 5 * v
                long_risk, short_risk = float(k * 7 % 100), float(k * 3 % 100)
                rows.append((base, venue, t, t + timedelta(minutes=1), max(long_risk, short_risk),
                             "long" if long_risk >= short_risk else "short", long_risk,
                             short_risk, 0.25 + (k % 4) / 4, "funding",
                             None if k % 9 == 0 else float(k % 41 - 20)))
    return rows


def stablecoin_pressure() -> list[tuple]:
    return [(t, t + timedelta(minutes=1), 1e5 + 100 * i, 2e5 - 50 * i, 10.0, i % 5,
             None if i % 8 == 0 else float(i % 61 - 30))
            for i, t in minutes()]


def load(db) -> None:
    """Insert the dataset through a psycopg connection, as multi-row INSERTs: the test
    engine's wire server handles neither COPY nor executemany's pipelined batches."""
    for table, cols, rows in (("features_1m", FEATURE_COLS, features()),
                              ("risk_scores", RISK_COLS, risk_scores()),
                              ("stablecoin_pressure", PRESSURE_COLS, stablecoin_pressure())):
        row_marks = "(" + ", ".join(["%s"] * len(cols)) + ")"
        for i in range(0, len(rows), 200):
            chunk = rows[i:i + 200]
            db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                       + ", ".join([row_marks] * len(chunk)),
                       [v for row in chunk for v in row])


def _bucket(t: datetime, width: timedelta) -> datetime:
    return START + (t - START) // width * width  # START is aligned to the hour


def _avg(values: list) -> float | None:
    present = [x for x in values if x is not None]
    return fmean(present) if present else None


def _sum(values: list) -> float | None:
    present = [x for x in values if x is not None]
    return sum(present) if present else None


def _last(pairs: list[tuple[datetime, object]]) -> object:
    present = [(t, x) for t, x in pairs if x is not None]
    return max(present)[1] if present else None


def _groups(rows: list[tuple], cols: tuple[str, ...], width: timedelta, keys: tuple[str, ...]):
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        r = dict(zip(cols, row, strict=True))
        groups[(*(r[k] for k in keys), _bucket(r["window_start"], width))].append(r)
    return sorted(groups.items())


def expected(rollup: str) -> list[dict]:
    """The rows rollup (e.g. 'features_5m') must hold, ordered by its key."""
    family, size = rollup.rsplit("_", 1)
    width = timedelta(minutes=5) if size == "5m" else timedelta(hours=1)
    out = []
    if family == "risk_scores":
        for (base, venue, bucket), g in _groups(risk_scores(), RISK_COLS, width,
                                                ("base", "venue")):
            out.append({"base": base, "venue": venue, "bucket": bucket,
                        "risk_max": max(r["risk"] for r in g),
                        "risk_avg": _avg([r["risk"] for r in g]),
                        "long_risk_max": max(r["long_risk"] for r in g),
                        "short_risk_max": max(r["short_risk"] for r in g),
                        "pressure_avg": _avg([r["pressure"] for r in g]),
                        "confidence_min": min(r["confidence"] for r in g)})
    elif family == "features":
        for (base, venue, bucket), g in _groups(features(), FEATURE_COLS, width,
                                                ("base", "venue")):
            out.append({"base": base, "venue": venue, "bucket": bucket,
                        "price_last": _last([(r["window_start"], r["price"]) for r in g]),
                        "funding_8h_avg": _avg([r["funding_8h"] for r in g]),
                        "oi_usd_last": _last([(r["window_start"], r["oi_usd"]) for r in g]),
                        "long_share_avg": _avg([r["long_share"] for r in g]),
                        "liq_long_usd_sum": _sum([r["liq_long_usd"] for r in g]),
                        "liq_short_usd_sum": _sum([r["liq_short_usd"] for r in g]),
                        "events_sum": sum(r["events"] for r in g)})
    else:
        for (bucket,), g in _groups(stablecoin_pressure(), PRESSURE_COLS, width, ()):
            out.append({"bucket": bucket,
                        "inflow_usd_sum": sum(r["inflow_usd"] for r in g),
                        "outflow_usd_sum": sum(r["outflow_usd"] for r in g),
                        "pressure_avg": _avg([r["pressure"] for r in g])})
    return out


ROLLUPS = ("risk_scores_5m", "risk_scores_1h", "features_5m", "features_1h",
           "stablecoin_pressure_5m", "stablecoin_pressure_1h")


def read(db, rollup: str) -> list[dict]:
    """A rollup's rows in the same order as expected(); numbers as float."""
    keys = "bucket" if rollup.startswith("stablecoin") else "base, venue, bucket"
    rows = db.execute(f"SELECT * FROM {rollup} ORDER BY {keys}").fetchall()
    return [{k: float(v) if k.endswith("_sum") and v is not None else v for k, v in r.items()}
            for r in rows]


def assert_rows_match(got: list[dict], want: list[dict], what: str) -> None:
    """Equal row for row: numbers to 1e-9 relative or 1e-12 absolute (sums and averages
    may be added up in another order), everything else exactly."""
    assert len(got) == len(want), f"{what}: {len(got)} rows, want {len(want)}"
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys(), what
        for key, value in w.items():
            if isinstance(value, float) and g[key] is not None:
                close = math.isclose(float(g[key]), value, rel_tol=1e-9, abs_tol=1e-12)
                assert close, (what, w, key, g[key])
            else:
                assert g[key] == value, (what, w, key, g[key])

"""The liquidation-level map inside Flink: the pandas UDAF over a ROWS window gives what the
pure function gives on the same rows, and the real job's liquidation_levels table for the
replayed sample equals the map computed offline from the sample's messages
(backtest.liquidation_map, the SQL's minute rows rebuilt in Python)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from backtest import liquidation_map as bt
from flink_jobs import liquidation_map as lm
from flink_jobs import map_udfs
from tests.pipeline_data import SAMPLE, PipelineData

CFG = lm.load_config()
T0 = datetime(2026, 11, 20, 14, 0)


def _packed_rows(n: int, seed: int) -> list[tuple[str, datetime, str]]:
    """Two assets over n minutes: venues drift, OI builds and falls, some minutes missing."""
    rng = random.Random(seed)
    rows = []
    for base, p0 in (("BTC", 95_000.0), ("DOGE", 0.2)):
        price, oi = {v: p0 for v in ("binance", "okx")}, {v: 1e8 for v in ("binance", "okx")}
        for m in range(n):
            entries = []
            for venue in price:
                if rng.random() < 0.1:
                    continue  # the venue skipped the minute
                price[venue] *= math.exp(rng.gauss(0, 0.002))
                oi[venue] *= 1 + rng.uniform(-0.01, 0.02)
                low, high = price[venue] * 0.998, price[venue] * 1.002
                entries.append(f"{venue},{price[venue]!r},{low!r},{high!r},{oi[venue]!r},"
                               f"{rng.choice([0.0, 1e5])!r}")
            if entries:
                rows.append((base, T0 + timedelta(minutes=m), "|".join(entries)))
    return rows


def test_the_udaf_over_a_rows_window_equals_the_pure_function():
    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.get_config().set("parallelism.default", "1")
    cfg = CFG.model_copy(update={"window": CFG.window.model_copy(update={"horizon_minutes": 30}),
                                 "grid": CFG.grid.model_copy(update={"min_notional_usd": 0})})
    map_udfs.register(env, cfg)
    rows = _packed_rows(80, seed=4)
    schema = DataTypes.ROW([DataTypes.FIELD("base", DataTypes.STRING()),
                            DataTypes.FIELD("window_start", DataTypes.TIMESTAMP(3)),
                            DataTypes.FIELD("venues", DataTypes.STRING())])
    env.create_temporary_view("map_in", env.from_elements(rows, schema))
    preceding = map_udfs.sql_params(cfg, 1)["map_preceding"]
    sql = (f"SELECT base, window_start, LIQUIDATION_LEVELS(base, window_start, venues) OVER ("
           f"PARTITION BY base ORDER BY window_start ROWS BETWEEN {preceding} PRECEDING AND "
           f"CURRENT ROW) FROM map_in")
    with env.execute_sql(sql).collect() as it:
        got = {(r[0], r[1]): r[2] for r in it}
    assert len(got) == len(rows)
    epoch = datetime(1970, 1, 1)
    non_empty = 0
    for base in ("BTC", "DOGE"):
        mine = [r for r in rows if r[0] == base]
        for i, (_, start, _packed) in enumerate(mine):
            span = mine[max(0, i - preceding): i + 1]
            want = lm.levels_text([int((r[1] - epoch).total_seconds() // 60) for r in span],
                                  [r[2] for r in span], base, cfg)
            assert got[(base, start)] == want, (base, start)
            non_empty += bool(want)
    assert non_empty > len(rows) / 2  # the comparison saw real maps, not empty strings


@pytest.mark.stack
def test_the_jobs_map_of_the_sample_equals_the_offline_map(pipeline_data: PipelineData):
    with psycopg.connect(pipeline_data.reader_dsn, autocommit=True) as db:
        rows = db.execute("SELECT base, window_start, side, bucket, price_low, price_high, "
                          "notional_usd FROM liquidation_levels").fetchall()
    got = {(b, int(ws.timestamp() // 60), s, k): (lo, hi, n) for b, ws, s, k, lo, hi, n in rows}
    h = bt.history(bt.load_records([SAMPLE]))
    want = {(base, minute, lv.side, lv.bucket): (lv.price_low, lv.price_high, lv.notional_usd)
            for (base, minute), levels in bt.maps(h, CFG).items() for lv in levels}
    assert len(want) > 300 and {k[0] for k in want} == {"BTC", "ETH", "SOL"}
    assert set(got) == set(want)
    for key, (lo, hi, n) in want.items():
        g_lo, g_hi, g_n = got[key]
        assert math.isclose(g_lo, lo, rel_tol=1e-12) and math.isclose(g_hi, hi, rel_tol=1e-12)
        assert math.isclose(g_n, n, rel_tol=1e-9), key
    # Every minute's map is whole: both sides, at most the configured buckets each.
    per = defaultdict(int)
    for base, minute, side, _ in got:
        per[(base, minute, side)] += 1
    assert max(per.values()) <= CFG.grid.top_buckets_per_side
    assert {s for (_, _, s) in per} == {"long", "short"}
    # The cascade cleared BTC's long levels that price fell through: after it, no long
    # level lies above the lowest price of the cascade.
    cascade_low = min(float(s.low[i]) for s in h.series["BTC"]
                      for i in range(len(s.minutes)) if not math.isnan(s.low[i]))
    after = max(m for (b, m, _, _) in got if b == "BTC")
    longs = [v for (b, m, s, _), v in got.items() if b == "BTC" and m == after and s == "long"]
    assert longs and all(lo < cascade_low for lo, _, _ in longs)


@pytest.mark.stack
def test_long_short_reports_and_sampled_liquidations_reach_their_tables(
        pipeline_data: PipelineData):
    records = list(bt.load_records([SAMPLE]))
    with psycopg.connect(pipeline_data.reader_dsn, autocommit=True) as db:
        reports = db.execute("SELECT venue, population, count(*) FROM long_short_ratios "
                             "GROUP BY 1, 2").fetchall()
        sampled = dict(db.execute("SELECT venue, bool_and(sampled) FROM liquidations "
                                  "GROUP BY 1").fetchall())
        first = db.execute("SELECT reported_at, long_share FROM long_short_ratios WHERE "
                           "venue = 'bybit' AND base = 'BTC' ORDER BY 1 LIMIT 1").fetchone()
    want = defaultdict(int)
    for topic, v in records:
        if topic == "long_short_ratio":
            want[(v["exchange"], v["population"])] += 1
    assert {(v, p): n for v, p, n in reports} == dict(want)
    assert sampled == {"binance": True, "okx": True, "bybit": False}
    msg = next(v for t, v in records if t == "long_short_ratio" and v["exchange"] == "bybit"
               and v["base"] == "BTC")
    assert first == (datetime.fromtimestamp(msg["ts"] / 1000, UTC), msg["long_share"])

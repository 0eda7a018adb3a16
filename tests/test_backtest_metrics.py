"""The backtest's labels and metrics on tiny hand-made series whose answers are worked out
in each test (backtest/metrics.py, docs/backtest.md); the CSV importer and the scenario
generator on small inputs. No Flink needed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from backtest import csv_import, metrics, scenario
from ingest import replay


def test_cascade_windows_top_share_of_the_assets_own_bp() -> None:
    # bp of the previous OI: 1, 2, ..., 10 (OI 1e6, liquidations 100..1000 USD)
    liq = np.arange(1, 11) * 100.0
    oi = np.full(10, 1e6)
    flags = metrics.cascade_windows(liq, oi, top_share=0.2, min_bp=0.0)
    # the 80th percentile of 1..10 (linear) is 8.2: windows with 9 and 10 bp
    assert flags.tolist() == [False] * 8 + [True, True]
    # an absolute floor above both leaves none
    assert not metrics.cascade_windows(liq, oi, 0.2, min_bp=11).any()


def test_episodes_merge_runs_within_the_gap() -> None:
    f = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 1], dtype=bool)
    assert metrics.episodes(f, merge_gap=0) == [(1, 2), (5, 5), (9, 9)]
    assert metrics.episodes(f, merge_gap=2) == [(1, 5), (9, 9)]  # gap of 2 windows merged


def test_target_is_an_episode_within_the_next_h_windows() -> None:
    y = metrics.target(10, [(5, 6)], horizon=2)
    # windows 3 and 4 see window 5 within 2 ahead; 5 sees 6; 6 sees nothing after it
    assert np.flatnonzero(y).tolist() == [3, 4, 5]


def test_auc_perfect_and_reversed() -> None:
    y = np.array([0, 0, 1, 1])
    assert metrics.auc(y, np.array([0.1, 0.2, 0.8, 0.9]))["roc_auc"] == 1.0
    assert metrics.auc(y, np.array([0.9, 0.8, 0.2, 0.1]))["roc_auc"] == 0.0
    # ranked 0, 0, 1, 1: average precision = (1/3 + 2/4) / 2
    got = metrics.auc(y, np.array([0.9, 0.8, 0.7, 0.1]))
    assert got["pr_auc"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert metrics.auc(np.zeros(3), np.ones(3))["roc_auc"] is None  # one class only


def test_level_result_recall_lead_precision() -> None:
    """Two episodes, H = 3. Alert runs at 2..3 (warns the episode starting at 4, lead 2)
    and at 11..12 (inside the second episode 10..12: a detection, not a warning), and a
    false alarm at 20 (nothing within 20..23)."""
    on = np.zeros(30, dtype=bool)
    on[[2, 3, 11, 12, 20]] = True
    eps = [(4, 5), (10, 12)]
    r = metrics.level_result(on, eps, horizon=3)
    assert (r.episodes, r.warned, r.detected) == (2, 1, 1)
    assert r.recall == 0.5
    assert r.leads == [2.0]
    # onsets 2, 11, 20: 2 sees window 4 within 2..5, 11 is inside the episode, 20 nothing
    assert (r.alerts, r.hits) == (3, 2)
    assert r.precision == pytest.approx(2 / 3)


def test_level_result_alert_at_the_start_is_a_detection() -> None:
    """The start window's score already sees the episode's liquidations."""
    on = np.zeros(10, dtype=bool)
    on[5:7] = True
    r = metrics.level_result(on, [(5, 6)], horizon=4)
    assert (r.warned, r.detected, r.leads) == (0, 1, [])
    on[4] = True  # one window before: warned, lead 1
    r = metrics.level_result(on, [(5, 6)], horizon=4)
    assert (r.warned, r.detected, r.leads) == (1, 0, [1.0])


def test_random_alerts_keep_the_rate() -> None:
    on = np.zeros(100, dtype=bool)
    on[10:15] = True
    shifted = metrics.random_alerts(on, np.random.default_rng(1))
    assert shifted.sum() == 5 and not np.array_equal(shifted, on)


def test_quantiles() -> None:
    assert metrics.quantiles([0, 10, 20, 30, 40]) == [4.0, 20.0, 36.0]
    assert metrics.quantiles([]) == [None, None, None]


CSV = """time,asset,long_liq_usd,short_liq_usd,oi_usd,funding_8h,long_short_ratio,\
top_long_short_ratio,price,inflow_usd,outflow_usd
2024-01-01,BTC,1000000,0,2e10,0.0001,1.5,,42000,5e6,1e6
2024-01-01,ETH,,20000,8e9,-0.0002,,0.8,2200,1e6,
2024-01-02T00:00:00Z,BTC,0,3000000,2.1e10,0.0003,2.0,1.1,43000,,
2024-01-02,ETH,nope,0,8e9,0.0001,1.0,1.0,2300,,
"""


def test_csv_import_writes_contract_messages_stamped_inside_the_bar(tmp_path: Path) -> None:
    src = tmp_path / "h.csv"
    src.write_text(CSV)
    out, err = io.BytesIO(), io.StringIO()
    counts = csv_import.convert(src, out, bar_minutes=1440, max_bad=1, errors=err)
    assert counts["bad_rows"] == 1 and "h.csv:5: long_liq_usd: not a number: 'nope'" in \
        err.getvalue()
    msgs = [replay.parse_envelope(line) for line in out.getvalue().splitlines()]
    day_end = 1704153600000 - 1  # 2024-01-02 00:00 UTC minus 1 ms
    first_day = [(t, m) for t, m in msgs if m["ts"] == day_end]
    assert {t for t, _ in first_day} == {"prices", "open_interest", "funding_rates",
                                         "long_short_ratio", "liquidations", "stablecoin_flows"}
    ls = {(m["base"], m["population"]): m["long_share"] for t, m in first_day
          if t == "long_short_ratio"}
    assert ls == {("BTC", "accounts"): pytest.approx(0.6),
                  ("ETH", "top_positions"): pytest.approx(0.8 / 1.8)}
    liq = {(m["base"], m["side"]): m["notional_usd"] for t, m in first_day if t == "liquidations"}
    assert liq == {("BTC", "long"): 1e6, ("ETH", "short"): 2e4}  # no message for a 0 or a gap
    flows = {m["direction"]: m["amount_usd"] for t, m in first_day if t == "stablecoin_flows"}
    assert flows == {"inflow": 6e6, "outflow": 1e6}  # market-wide: summed over the assets
    assert [m["ts"] for _, m in msgs] == sorted(m["ts"] for _, m in msgs)


def test_csv_import_stops_past_max_bad(tmp_path: Path) -> None:
    src = tmp_path / "h.csv"
    src.write_text(CSV)
    with pytest.raises(csv_import.CsvError, match="more than 0 bad rows"):
        csv_import.convert(src, io.BytesIO(), 1440, errors=io.StringIO())
    src.write_text("time,asset\n2024-01-01,BTC\n")
    with pytest.raises(csv_import.CsvError, match="missing columns"):
        csv_import.convert(src, io.BytesIO(), 1440)


def test_scenario_plants_what_it_says() -> None:
    rows, planted = scenario.generate(bar_minutes=1440, days=400, seed=3, n_assets=3)
    assert set(rows["asset"]) == {"BTC", "ETH", "SOL"}
    kinds = {p.kind for p in planted}
    assert kinds == {"cascade", "cascade_no_buildup", "fizzle"}
    assert {p.side for p in planted} == {"long", "short"}
    assert rows["inflow_usd"].isna().any() and rows["inflow_usd"].notna().any()  # gaps
    # sizes differ by orders of magnitude
    oi = rows.groupby("asset")["oi_usd"].median()
    assert oi["BTC"] > 5 * oi["SOL"]
    # a planted cascade shows: the side's liquidations in its first bar are far above the
    # asset's median (heavy tails), for most of them (precursors and sizes are noisy)
    big = 0
    casc = [p for p in planted if p.kind != "fizzle"]
    for p in casc:
        g = rows[rows["asset"] == p.asset].set_index("time")[f"{p.side}_liq_usd"]
        big += g.loc[p.start] > 3 * g.median()
    assert big >= 0.6 * len(casc)
    # deterministic for a seed
    again, _ = scenario.generate(1440, 400, seed=3, n_assets=3)
    assert again.equals(rows)
    assert json.dumps(len(planted))  # planted events are plain data

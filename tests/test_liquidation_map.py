"""The liquidation-level map's pure functions (flink_jobs/liquidation_map.py) and its config:
liquidation prices, what is opened, cleared, decayed and closed, the grid, what is written,
the packed rows the job hands over, and the config's errors. No Flink, no services."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_jobs import liquidation_map as lm
from lcm.settings import ConfigError

CFG = lm.load_config()
M0 = 29_531_400  # 2026-02-23 00:00 UTC in epoch minutes; any minute works


def _cfg(**changes: object) -> lm.MapConfig:
    """The shipped config with some sections replaced (a dict per section)."""
    data = yaml.safe_load(lm.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict) and key != "leverage_mix":
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return lm.MapConfig.model_validate(data)


def _series(venue: str, prices: list[float], ois: list[float | None], *, lows=None, highs=None,
            liqs=None, start: int = M0) -> lm.VenueSeries:
    n = len(prices)
    nan = [math.nan if v is None else v for v in ois]
    return lm.VenueSeries(venue, np.arange(start, start + n), np.array(prices, float),
                          np.array(lows if lows is not None else prices, float),
                          np.array(highs if highs is not None else prices, float),
                          np.array(nan, float),
                          np.array(liqs if liqs is not None else [0.0] * n, float))


# --- liquidation prices ----------------------------------------------------------------------
@pytest.mark.parametrize(("lev", "mmr"), [(lev, mmr) for mmr in (0.004, 0.0125)
                                          for lev in (2, 5, 10, 25, 50, 100) if mmr < 1 / lev])
def test_at_the_liquidation_price_equity_equals_maintenance_margin(lev, mmr):
    entry, coins = 50_000.0, 2.0
    margin = entry * coins / lev
    p = float(lm.long_liquidation_price(entry, lev, mmr))
    assert p < entry
    assert math.isclose(margin - coins * (entry - p), mmr * coins * p, rel_tol=1e-12)
    p = float(lm.short_liquidation_price(entry, lev, mmr))
    assert p > entry
    assert math.isclose(margin - coins * (p - entry), mmr * coins * p, rel_tol=1e-12)


def test_a_leverage_above_the_venues_maximum_is_capped():
    levs, shares, mmr = CFG.leverage_split("hyperliquid", "ETH")  # 25x at most
    assert list(levs) == [5, 10, 25] and mmr == 0.02
    assert math.isclose(shares[-1], 0.20 + 0.12 + 0.08) and math.isclose(shares.sum(), 1)
    levs, _, mmr = CFG.leverage_split("binance", "BTC")
    assert list(levs) == [5, 10, 25, 50, 100] and mmr == 0.004
    assert CFG.tier("some-new-venue", "XYZ") == CFG.venues["default"].tiers["default"][0]
    assert CFG.tier("bybit", "doge") == CFG.venues["bybit"].tiers["default"][0]


def test_the_tier_follows_the_assumed_position_size():
    big = _cfg(position_notional_usd=1_000_000)
    assert big.tier("binance", "BTC").mmr == 0.0065  # the third bracket
    huge = _cfg(position_notional_usd=1e12)
    assert huge.tier("binance", "BTC").mmr == 0.01  # beyond the last: the last


# --- what the map holds ----------------------------------------------------------------------
def test_an_oi_increase_becomes_levels_of_both_sides_split_by_the_leverage_mix():
    cfg = _cfg(grid={"min_notional_usd": 0, "max_distance_pct": 50})
    s = _series("binance", [100.0, 100.0], [1000.0, 1000.0 + 5_000_000.0])  # +50k coins
    levels = lm.asset_levels([s], "BTC", cfg)
    levs, shares, mmr = cfg.leverage_split("binance", "BTC")
    opened = 5_000_000.0  # 50k coins at 100
    for side, price_of in (("long", lm.long_liquidation_price),
                           ("short", lm.short_liquidation_price)):
        mine = [lv for lv in levels if lv.side == side]
        assert math.isclose(sum(lv.notional_usd for lv in mine), opened, rel_tol=1e-9)
        for lev, share in zip(levs, shares, strict=True):
            want = float(price_of(100.0, lev, mmr))
            (lv,) = [lv for lv in mine if lv.price_low <= want < lv.price_high]
            assert lv.bucket == int(lm.bucket_of(want, cfg.grid.bucket_pct))
            assert math.isclose(lv.notional_usd, opened * share, rel_tol=1e-9)


def test_levels_decay_with_their_half_life():
    cfg = _cfg(grid={"min_notional_usd": 0})
    half = cfg.window.half_life_minutes
    n = int(half) + 2
    s = _series("okx", [100.0] * n, [1e6, 2e6] + [2e6] * (n - 2))  # opened at minute 1
    total = sum(lv.notional_usd for lv in lm.asset_levels([s], "BTC", cfg) if lv.side == "long")
    assert math.isclose(total, 1e6 * 0.5 ** ((n - 2) / half), rel_tol=1e-9)


def test_a_level_is_cleared_once_a_later_low_reaches_it():
    cfg = _cfg(grid={"min_notional_usd": 0})
    _, _, mmr = cfg.leverage_split("bybit", "BTC")
    at_100x = float(lm.long_liquidation_price(100.0, 100, mmr))  # about 0.5 % below
    at_50x = float(lm.long_liquidation_price(100.0, 50, mmr))
    lows = [100.0, 100.0, at_100x * 0.9999, 100.0]  # a wick through the 100x level only
    s = _series("bybit", [100.0] * 4, [1e6, 2e6, 2e6, 2e6], lows=lows)
    longs = [lv for lv in lm.asset_levels([s], "BTC", cfg) if lv.side == "long"]
    assert not [lv for lv in longs if lv.price_low <= at_100x < lv.price_high]
    assert [lv for lv in longs if lv.price_low <= at_50x < lv.price_high]
    shorts = [lv for lv in lm.asset_levels([s], "BTC", cfg) if lv.side == "short"]
    assert math.isclose(sum(lv.notional_usd for lv in shorts),
                        1e6 * 0.5 ** (2 / cfg.window.half_life_minutes), rel_tol=1e-9)


def test_the_wick_of_the_opening_minute_itself_does_not_clear():
    cfg = _cfg(grid={"min_notional_usd": 0})
    s = _series("bybit", [100.0, 100.0], [1e6, 2e6], lows=[100.0, 50.0])
    assert {lv.side for lv in lm.asset_levels([s], "BTC", cfg)} == {"long", "short"}


def test_an_oi_decrease_beyond_liquidations_closes_older_positions_pro_rata():
    cfg = _cfg(grid={"min_notional_usd": 0}, window={"half_life_minutes": 1e5})
    # +1M opened, then OI falls 1.5M of 2M held, 0.5M of it liquidated: 1M of 2M closed.
    s = _series("okx", [100.0] * 3, [1e6, 2e6, 0.5e6], liqs=[0.0, 0.0, 0.5e6])
    longs = [lv for lv in lm.asset_levels([s], "BTC", cfg) if lv.side == "long"]
    assert math.isclose(sum(lv.notional_usd for lv in longs), 1e6 * 0.5, rel_tol=1e-4)


def test_no_opening_across_a_gap_in_the_venues_reports_or_beyond_the_horizon():
    cfg = _cfg(grid={"min_notional_usd": 0})
    gap = cfg.window.max_oi_gap_minutes + 1
    s = _series("okx", [100.0] * (gap + 1), [1e6] + [None] * (gap - 1) + [9e6])
    assert lm.asset_levels([s], "BTC", cfg) == []
    h = cfg.window.horizon_minutes
    old = _series("okx", [100.0] * (h + 2), [1e6, 2e6] + [2e6] * h)  # opened h minutes ago
    assert lm.asset_levels([old], "BTC", cfg) == []


def test_only_the_largest_buckets_near_the_price_above_the_minimum_are_written():
    cfg = _cfg(grid={"top_buckets_per_side": 3, "min_notional_usd": 1e5,
                     "max_distance_pct": 15})
    rng = np.random.default_rng(3)
    n = 120
    prices = list(100 * np.exp(np.cumsum(rng.normal(0, 0.001, n))))
    ois = list(1e8 * (1 + np.cumsum(rng.uniform(0, 0.01, n))))
    levels = lm.asset_levels([_series("binance", prices, ois)], "BTC", cfg)
    for side in ("long", "short"):
        mine = [lv for lv in levels if lv.side == side]
        assert 0 < len(mine) <= 3
        assert all(lv.notional_usd >= 1e5 for lv in mine)
    assert all(abs(lv.price_low / prices[-1] - 1) <= 0.16 for lv in levels)
    assert all(lv.price_high > lv.price_low for lv in levels)


def test_venues_are_summed_and_each_is_cleared_by_its_own_price():
    cfg = _cfg(grid={"min_notional_usd": 0})
    a = _series("binance", [100.0] * 3, [1e6, 2e6, 2e6])
    b = _series("bybit", [100.0] * 3, [1e6, 2e6, 2e6], lows=[100.0, 100.0, 60.0])
    longs = [lv for lv in lm.asset_levels([a, b], "BTC", cfg) if lv.side == "long"]
    decay = 0.5 ** (1 / cfg.window.half_life_minutes)
    # bybit's longs were all cleared by its own wick; binance's remain
    assert math.isclose(sum(lv.notional_usd for lv in longs), 1e6 * decay, rel_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.97, 1.03), st.floats(0.9, 1.2)), min_size=2,
                max_size=80), st.integers(0, 3))
def test_property_the_map_holds_no_more_than_was_opened(steps, seed):
    cfg = _cfg(grid={"min_notional_usd": 0, "top_buckets_per_side": 500,
                     "max_distance_pct": 90})
    price, oi, prices, ois = 100.0, 1e6, [], []
    for dp, doi in steps:
        price *= dp
        oi *= doi
        prices.append(price)
        ois.append(oi)
    s = _series("okx", prices, ois, start=M0 + seed)
    levels = lm.asset_levels([s], "BTC", cfg)
    coins = np.array(ois) / np.array(prices)
    opened = float(np.sum(np.clip(np.diff(coins), 0, None) * np.array(prices[1:])))
    for side in ("long", "short"):
        total = sum(lv.notional_usd for lv in levels if lv.side == side)
        assert total <= opened * (1 + 1e-9) + 1e-6
    # a surviving long level lies below every later price, a short above (none was crossed)
    for lv in levels:
        assert lv.price_low > 0 and lv.notional_usd > 0
        if lv.side == "long":
            assert lv.price_low < prices[-1]
        else:
            assert lv.price_high > prices[-1]


# --- the packed rows the job hands over -----------------------------------------------------
def test_packed_rows_parse_like_the_series_and_order_does_not_matter():
    cfg = _cfg(grid={"min_notional_usd": 0})
    packed = ["binance,100.0,99.5,100.5,1.0E8,0.0|okx,100.2,,,,0.0",
              "binance,100.0,99.0,101.0,1.02E8,1500.0|okx,100.1,100.0,100.3,5.0E7,0.0",
              "okx,99.9,99.9,99.9,5.1E7,0.0|binance,99.8,99.8,99.8,1.03E8,0.0"]
    series = lm.parse_minutes([M0, M0 + 1, M0 + 2], packed, "BTC")
    assert [s.venue for s in series] == ["binance", "okx"]
    okx = series[1]
    assert math.isnan(okx.low[0]) and math.isnan(okx.oi_usd[0]) and okx.oi_usd[2] == 5.1e7
    assert series[0].liq_usd[1] == 1500.0
    text = lm.levels_text([M0, M0 + 1, M0 + 2], packed, "BTC", cfg)
    assert text == lm.format_levels(lm.asset_levels(series, "BTC", cfg)) and text
    shuffled = lm.levels_text([M0 + 2, M0, M0 + 1], [packed[2], packed[0], packed[1]], "BTC",
                              cfg)
    assert shuffled == text
    # the text splits back into the rows sql/flink/55 writes
    for item in text.split(";"):
        side, bucket, low, high, notional = item.split(":")
        assert side in ("long", "short") and int(bucket) == lm.bucket_of(float(low) * 1.000001,
                                                                         cfg.grid.bucket_pct)
        assert float(high) > float(low) and float(notional) > 0


def test_an_unreadable_venue_entry_is_skipped_with_a_warning(caplog):
    packed = ["binance,100.0,99.5,100.5,1.0E8,0.0|garbage|okx,1,2", None, ""]
    series = lm.parse_minutes([M0, M0 + 1, M0 + 2], packed, "BTC")
    assert [s.venue for s in series] == ["binance"]
    (warning,) = caplog.records  # one line for the call, however many entries
    assert "BTC: 2 unreadable venue entries left out" in warning.getMessage()
    assert f"minute {M0}: 'garbage' (1 fields, expected 6)" in warning.getMessage()
    assert lm.levels_text([], [], "BTC", CFG) == ""
    # negative or non-finite numbers are missing values, never levels
    (s,) = lm.parse_minutes([M0], ["x,-1,inf,nan,5,0"])
    assert np.isnan(s.price[0]) and np.isnan(s.low[0]) and np.isnan(s.high[0])


# --- the config --------------------------------------------------------------------------------
def _write(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(lm.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "where", "what"), [
    (lambda d: d["leverage_mix"].update({5: 0.5}), "leverage_mix", "must sum to 1"),
    (lambda d: d["leverage_mix"].update({2000: 0.0}), "leverage_mix", "outside 1..1000"),
    (lambda d: d["window"].update(half_life_minutes=0), "window.half_life_minutes",
     "greater than 0"),
    (lambda d: d["grid"].update(bucket_pct="wide"), "grid.bucket_pct", "valid number"),
    (lambda d: d["venues"]["okx"]["tiers"]["BTC"][0].update(mmr=0.02),
     "venues.okx.tiers.BTC.0", "below the initial margin"),
    (lambda d: d["venues"]["bybit"]["tiers"].pop("default"), "venues.bybit.tiers",
     "'default' entry"),
    (lambda d: d["venues"].pop("default"), "venues", "'default' venue"),
    (lambda d: d["venues"]["binance"]["tiers"]["BTC"].reverse(),
     "venues.binance.tiers", "must increase"),
    (lambda d: d.update(surprise=1), "surprise", "Extra inputs"),
])
def test_a_bad_config_names_the_file_and_the_key(tmp_path, change, where, what):
    path = _write(tmp_path, change)
    with pytest.raises(ConfigError) as err:
        lm.load_config(path)
    assert str(path) in str(err.value) and where in str(err.value) and what in str(err.value)


def test_the_config_path_comes_from_the_environment(tmp_path, monkeypatch):
    path = _write(tmp_path, lambda d: d["grid"].update(top_buckets_per_side=7))
    monkeypatch.setenv("LCM_LIQUIDATION_MAP_CONFIG", str(path))
    assert lm.load_config().grid.top_buckets_per_side == 7
    monkeypatch.setenv("LCM_LIQUIDATION_MAP_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config"):
        lm.load_config()

"""Binance USD-M source: pure parsers on the recorded payloads (order side -> liquidated
position, sampled liquidations, funding interval from fundingInfo with the 8 h default)."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from ingest.contract import PayloadError
from ingest.sources import binance
from tests.ingest.cex_fixtures import lines, load

W = "test"


def instruments() -> dict[str, binance.Instrument]:
    intervals = binance.parse_funding_info(load("binance", "funding_info.json"), W)
    return binance.parse_exchange_info(load("binance", "exchange_info.json"), intervals, W)


def premium(symbol: str) -> dict:
    return next(r for r in load("binance", "premium_index.json") if r["symbol"] == symbol)


def test_perpetuals_with_funding_interval_default_8h() -> None:
    insts = instruments()
    assert sorted(insts) == ["1000PEPEUSDT", "BTCUSDT", "ETHUSDT"]  # no quarterly
    assert insts["BTCUSDT"].interval_hours == 8  # not listed in fundingInfo
    pepe = insts["1000PEPEUSDT"]
    assert (pepe.base, pepe.multiplier, pepe.interval_hours) == ("PEPE", 1000, 4)


def test_premium_index_gives_funding_per_interval_and_mark_price() -> None:
    (topic, f), = binance.parse_premium_index(premium("BTCUSDT"), instruments()["BTCUSDT"], W)
    assert topic == "funding_rates"
    assert (f["funding_rate"], f["interval_hours"], f["mark_price"], f["ts"]) == (
        0.00002813, 8, 109736.1, 1756460000002)
    (_, p), = binance.parse_premium_index(premium("1000PEPEUSDT"),
                                          instruments()["1000PEPEUSDT"], W)
    assert (p["base"], p["interval_hours"]) == ("PEPE", 4)
    assert p["mark_price"] == float(Decimal("0.01002410") / 1000)


def test_open_interest_is_valued_at_the_mark_price() -> None:
    row = load("binance", "open_interest_btcusdt.json")
    (_, oi), = binance.parse_open_interest(row, instruments()["BTCUSDT"], "109736.10000000", W)
    assert oi["oi_base"] == 81234.509
    assert oi["oi_usd"] == float(Decimal("81234.509") * Decimal("109736.1"))
    assert oi["ts"] == 1756460000011
    with pytest.raises(PayloadError, match="no mark price"):
        binance.parse_open_interest(row, instruments()["BTCUSDT"], None, W)


def test_global_account_ratio() -> None:
    row = load("binance", "global_long_short_account_ratio_btcusdt.json")[0]
    (_, msg), = binance.parse_long_short(row, instruments()["BTCUSDT"], W)
    assert (msg["long_share"], msg["short_share"], msg["ratio"], msg["population"]) == (
        0.6617, 0.3383, 1.9559, "accounts")


def test_force_order_sell_means_a_long_was_liquidated() -> None:
    """forceOrder S is the liquidation ORDER side: the engine sells to close a long."""
    sell, buy = lines("binance", "ws_force_order.jsonl")
    (topic, long_liq), = binance.parse_force_order(sell, instruments(), W)
    assert topic == "liquidations"
    assert long_liq["side"] == "long"
    assert (long_liq["qty"], long_liq["price"], long_liq["ts"]) == (0.014, 109402.1,
                                                                    1756460005890)
    assert long_liq["notional_usd"] == float(Decimal("0.014") * Decimal("109402.10"))
    assert long_liq["sampled"] is True  # at most one per symbol per second: a lower bound
    (_, short_liq), = binance.parse_force_order(buy, instruments(), W)
    assert (short_liq["side"], short_liq["base"]) == ("short", "PEPE")
    assert short_liq["qty"] == 120_000_000  # 120000 x 1000 PEPE
    assert short_liq["notional_usd"] == float(Decimal(120000) * Decimal("0.0101100"))


def test_force_order_in_a_combined_stream_wrapper_and_dated_contracts() -> None:
    sell = lines("binance", "ws_force_order.jsonl")[0]
    wrapped = {"stream": "!forceOrder@arr", "data": sell}
    (_, a), = binance.parse_force_order(wrapped, instruments(), W)
    (_, b), = binance.parse_force_order(sell, instruments(), W)
    a.pop("ingest_ts"), b.pop("ingest_ts")
    assert a == b
    dated = copy.deepcopy(sell)
    dated["o"]["s"] = "BTCUSDT_251226"
    assert binance.parse_force_order(dated, instruments(), W) == []


@pytest.mark.parametrize("field,bad", [("S", "HOLD"), ("z", "abc"), ("T", None), ("s", "NEWUSDT")])
def test_malformed_force_order_names_the_field(field: str, bad: object) -> None:
    msg = copy.deepcopy(lines("binance", "ws_force_order.jsonl")[0])
    if bad is None:
        del msg["o"][field]
    else:
        msg["o"][field] = bad
    with pytest.raises(PayloadError) as err:
        binance.parse_force_order(msg, instruments(), "ws forceOrder")
    assert "ws forceOrder" in err.value.reason


def test_extra_fields_are_tolerated() -> None:
    msg = copy.deepcopy(lines("binance", "ws_force_order.jsonl")[0])
    msg["o"]["newField"] = "x"
    msg["x"] = 1
    assert len(binance.parse_force_order(msg, instruments(), W)) == 1


def test_funding_history_interval_from_neighbouring_settlements() -> None:
    rows = load("binance", "funding_rate_history_btcusdt.json")
    results = binance.parse_funding_history(rows, instruments()["BTCUSDT"], W)
    (_, first), = results[0]
    (_, second), = results[1]
    assert (first["interval_hours"], second["interval_hours"]) == (8, 8)  # 1 ms late is 8 h
    assert (first["funding_rate"], first["mark_price"]) == (0.0001, 110412.5)
    broken = [rows[0], {"symbol": "BTCUSDT", "fundingTime": 1756454400001}]
    results = binance.parse_funding_history(broken, instruments()["BTCUSDT"], W)
    assert isinstance(results[1], PayloadError) and "fundingRate" in results[1].reason


def test_open_interest_history_timestamp_as_string_or_number() -> None:
    a, b = load("binance", "open_interest_hist_btcusdt.json")
    (_, x), = binance.parse_open_interest_hist(a, instruments()["BTCUSDT"], W)
    (_, y), = binance.parse_open_interest_hist(b, instruments()["BTCUSDT"], W)
    assert (x["ts"], y["ts"]) == (1756458000000, 1756461600000)
    assert x["oi_usd"] == float(Decimal("8912570784.07809979"))

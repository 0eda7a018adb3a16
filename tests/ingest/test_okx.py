"""OKX v5 source: pure parsers on the recorded payloads (contracts -> coins and USD,
side/posSide, funding interval from the funding times)."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from ingest.contract import PayloadError
from ingest.sources import okx
from tests.ingest.cex_fixtures import lines, load

W = "test"


def instruments() -> dict[str, okx.Instrument]:
    out = {}
    for row in okx.rows_of(load("okx", "instruments_swap.json"), W):
        inst = okx.parse_instrument(row, W)
        if inst is not None:
            out[inst.inst_id] = inst
    return out


def rows(name: str) -> dict[str, dict]:
    return {r["instId"]: r for r in okx.rows_of(load("okx", name), W)}


def test_instruments_carry_the_contract_value() -> None:
    insts = instruments()
    assert insts["BTC-USDT-SWAP"] == okx.Instrument("BTC-USDT-SWAP", "BTC", Decimal(1),
                                                    Decimal("0.01"), inverse=False)
    assert insts["BTC-USD-SWAP"].inverse and insts["BTC-USD-SWAP"].contract_value == 100
    assert insts["PEPE-USDT-SWAP"].contract_value == 10_000_000
    assert insts["PEPE-USDT-SWAP"].base == "PEPE"


def test_funding_interval_comes_from_the_funding_times() -> None:
    insts, funding = instruments(), rows("funding_rate_any.json")
    (_, btc), = okx.parse_funding(funding["BTC-USDT-SWAP"], insts["BTC-USDT-SWAP"],
                                  Decimal("109731.4"), W)
    assert btc["funding_rate"] == float(Decimal("0.0000182221218054"))
    assert (btc["interval_hours"], btc["mark_price"], btc["ts"]) == (8, 109731.4, 1756460000291)
    (_, pepe), = okx.parse_funding(funding["PEPE-USDT-SWAP"], insts["PEPE-USDT-SWAP"], None, W)
    assert pepe["interval_hours"] == 4  # 1756483200000 - 1756468800000
    assert pepe["mark_price"] is None
    bad = dict(funding["BTC-USDT-SWAP"], nextFundingTime=funding["BTC-USDT-SWAP"]["fundingTime"])
    with pytest.raises(PayloadError, match="nextFundingTime"):
        okx.parse_funding(bad, insts["BTC-USDT-SWAP"], None, W)


def test_open_interest_in_coins_and_usd() -> None:
    (_, oi), = okx.parse_open_interest(rows("open_interest_swap.json")["BTC-USDT-SWAP"],
                                       instruments()["BTC-USDT-SWAP"], W)
    assert (oi["oi_base"], oi["oi_usd"], oi["ts"]) == (26725.1024, 2932650331.17, 1756460000134)


def test_linear_liquidation_converts_contracts_with_ct_val() -> None:
    """sz 3.62 contracts of BTC-USDT-SWAP (ctVal 0.01 BTC) = 0.0362 BTC; posSide long."""
    frame = lines("okx", "ws_liquidation_orders.jsonl")[1]
    (topic, msg), = okx.parse_liquidation_orders(frame, instruments(), W)
    assert topic == "liquidations"
    assert (msg["side"], msg["base"], msg["symbol"]) == ("long", "BTC", "BTC-USDT-SWAP")
    assert msg["qty"] == float(Decimal("3.62") * Decimal("0.01"))
    assert msg["price"] == 109412.6  # bankruptcy price
    assert msg["notional_usd"] == float(Decimal("0.0362") * Decimal("109412.6"))
    assert msg["ts"] == 1756460004010
    assert msg["sampled"] is True  # OKX: "doesn't represent the total number"


def test_inverse_liquidation_contracts_are_usd() -> None:
    """BTC-USD-SWAP: 250 contracts x 100 USD = 25,000 USD; posSide short, side buy."""
    frame = lines("okx", "ws_liquidation_orders.jsonl")[2]
    (_, inv), (_, pepe) = okx.parse_liquidation_orders(frame, instruments(), W)
    assert inv["side"] == "short"
    assert inv["notional_usd"] == 25000.0
    assert inv["qty"] == float(Decimal(25000) / Decimal("110120.5"))
    # one-way (net) mode: side sell closes a long
    assert pepe["side"] == "long"
    assert pepe["qty"] == 130_000_000  # 13 contracts x 10,000,000 PEPE
    assert pepe["notional_usd"] == float(Decimal(130_000_000) * Decimal("0.00000987"))


@pytest.mark.parametrize("pos,side,expected", [("long", "sell", "long"), ("short", "buy", "short"),
                                               ("net", "sell", "long"), ("net", "buy", "short")])
def test_side_and_pos_side(pos: str, side: str, expected: str) -> None:
    assert okx.liquidated_side({"posSide": pos, "side": side}, W) == expected


def test_contradicting_side_and_pos_side_is_an_error() -> None:
    with pytest.raises(PayloadError, match="contradicts"):
        okx.liquidated_side({"posSide": "long", "side": "buy"}, W)


def test_unknown_instrument_and_malformed_size_are_errors() -> None:
    frame = copy.deepcopy(lines("okx", "ws_liquidation_orders.jsonl")[1])
    frame["data"][0]["details"][0]["sz"] = "3,62"
    with pytest.raises(PayloadError, match="sz"):
        okx.parse_liquidation_orders(frame, instruments(), W)
    frame["data"][0]["instId"] = "NEW-USDT-SWAP"
    with pytest.raises(PayloadError, match="no contract value"):
        okx.parse_liquidation_orders(frame, instruments(), W)


def test_extra_fields_are_tolerated() -> None:
    frame = copy.deepcopy(lines("okx", "ws_liquidation_orders.jsonl")[1])
    frame["data"][0]["details"][0]["newFlag"] = "1"
    frame["data"][0]["newTopLevel"] = {"a": 1}
    assert len(okx.parse_liquidation_orders(frame, instruments(), W)) == 1


def test_long_short_ratio_from_ratio_only() -> None:
    row = okx.rows_of(load("okx", "long_short_account_ratio_btc.json"), W)[0]
    (_, msg), = okx.parse_long_short_ratio(row, "BTC", W)
    assert (msg["symbol"], msg["base"], msg["ts"], msg["ratio"]) == ("BTC", "BTC",
                                                                     1756459800000, 1.25)
    assert msg["long_share"] == float(Decimal("1.25") / Decimal("2.25"))
    assert msg["short_share"] == pytest.approx(1 / 2.25)


def test_history_rows() -> None:
    inst = instruments()["BTC-USDT-SWAP"]
    row = okx.rows_of(load("okx", "open_interest_history_btc_usdt_swap.json"), W)[0]
    (_, oi), = okx.parse_open_interest_history(row, inst, W)
    assert (oi["oi_base"], oi["oi_usd"], oi["ts"]) == (26725.1024, 2932650331.17, 1756458000000)
    row = okx.rows_of(load("okx", "funding_rate_history_btc_usdt_swap.json"), W)[0]
    (_, f), = okx.parse_funding_history(row, inst, Decimal(8), W)
    assert (f["funding_rate"], f["interval_hours"], f["ts"]) == (
        float(Decimal("0.0000746572360545")), 8, 1756454400000)


def test_refused_call_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="code 50011"):
        okx.rows_of({"code": "50011", "msg": "Too Many Requests", "data": []}, W)

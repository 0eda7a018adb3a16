"""Contract builders and parsing helpers (ingest/contract.py), with the venues' real values."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from ingest import contract as c
from ingest.contract import PayloadError

TS = 1597370495002  # Binance premiumIndex example "time"


@pytest.mark.parametrize(("raw", "expected"), [
    ("0.00038246", Decimal("0.00038246")),      # Binance lastFundingRate
    ("-0.00000874", Decimal("-0.00000874")),    # Bybit fundingRate
    ("0.0000182221218054", Decimal("0.0000182221218054")),  # OKX fundingRate, 18 digits
    (" 52163.171 ", Decimal("52163.171")),
    (2042, Decimal(2042)),                      # dYdX trades24H is a JSON number
    (67187.33, Decimal("67187.33")),            # CoinGecko float: its shortest repr
    (Decimal("1.10"), Decimal("1.10")),
])
def test_dec_parses_exactly(raw, expected) -> None:
    got = c.dec(raw, "f", "here")
    assert got == expected and str(got) == str(expected)


@pytest.mark.parametrize("raw", ["", "abc", "NaN", "inf", "-Infinity", None, True, [1], {}])
def test_dec_rejects_naming_field_and_place(raw) -> None:
    with pytest.raises(PayloadError, match=r"bybit tickers: fundingRate: "):
        c.dec(raw, "fundingRate", "bybit tickers")


def test_opt_dec_and_req() -> None:
    assert c.opt_dec("", "x") is None and c.opt_dec(None, "x") is None
    assert c.opt_dec("1.5", "x") == Decimal("1.5")
    assert c.req({"a": 1}, "a") == 1
    with pytest.raises(PayloadError, match=r"okx: oiCcy: missing"):
        c.req({"oi": "1"}, "oiCcy", "okx")
    with pytest.raises(PayloadError, match="expected a JSON object, got list"):
        c.req([1], "a", "x")


def test_loads_keeps_json_numbers_exact() -> None:
    doc = c.loads(b'{"usd": 67187.33, "n": 3, "s": "0.1"}')
    assert doc == {"usd": Decimal("67187.33"), "n": 3, "s": "0.1"}
    with pytest.raises(PayloadError, match="where: not JSON"):
        c.loads(b"<html>502</html>", "where")


@pytest.mark.parametrize(("value", "unit", "ms"), [
    (1589437530011, "ms", 1589437530011),          # Binance openInterest time (int)
    ("1743588686291", "ms", 1743588686291),        # OKX ts (string)
    ("1583127900000", "ms", 1583127900000),        # Binance openInterestHist doc example
    (1711356300, "s", 1711356300000),              # CoinGecko last_updated_at
    ("1705173443", "s", 1705173443000),            # Etherscan tokentx timeStamp
    ("0x65a2b3c3", "hex_s", 0x65A2B3C3 * 1000),    # Etherscan getLogs timeStamp
    ("2024-03-14T07:10:36.635Z", "iso", 1710400236635),  # dYdX createdAt
])
def test_ts_ms_every_spelling(value, unit, ms) -> None:
    assert c.ts_ms(value, "ts", "w", unit) == ms


@pytest.mark.parametrize(("value", "unit"), [
    (1711356300, "ms"),        # seconds passed as ms: caught by the 2010..2100 window
    (1711356300000000, "ms"),  # microseconds
    ("abc", "ms"), (True, "ms"), (None, "s"), ("65a2", "hex_s"), ("yesterday", "iso"),
])
def test_ts_ms_rejects(value, unit) -> None:
    with pytest.raises(PayloadError, match=r"w: T: "):
        c.ts_ms(value, "T", "w", unit)


@pytest.mark.parametrize(("raw", "base", "mult"), [
    ("BTC", "BTC", 1), ("XBT", "BTC", 1), ("eth", "ETH", 1),
    ("1000PEPE", "PEPE", 1000),          # Binance/Bybit 1000PEPEUSDT
    ("10000LADYS", "LADYS", 10000),
    ("1000000MOG", "MOG", 1_000_000),
    ("1MBABYDOGE", "BABYDOGE", 1_000_000),  # Binance 1MBABYDOGEUSDT
    ("kPEPE", "PEPE", 1000),             # Hyperliquid
    ("kBONK", "BONK", 1000),
    ("KAVA", "KAVA", 1), ("KSM", "KSM", 1),  # a capital K is part of the name
    ("1INCH", "1INCH", 1),               # not a multiplier
    ("100X", "100X", 1),
])
def test_split_base(raw, base, mult) -> None:
    assert c.split_base(raw) == (base, Decimal(mult))
    assert c.normalize_base(raw) == base


@pytest.mark.parametrize("raw", ["", "  ", None])
def test_split_base_rejects_empty(raw) -> None:
    with pytest.raises(PayloadError):
        c.split_base(raw)


def test_liquidation_side_conventions() -> None:
    # Binance forceOrder S = ORDER side: SELL closes a long
    assert c.liquidated_side_from_order("SELL") == "long"
    assert c.liquidated_side_from_order("BUY") == "short"
    # Bybit allLiquidation S = POSITION side: Buy = a long position
    assert c.liquidated_side_from_position("Buy") == "long"
    assert c.liquidated_side_from_position("Sell") == "short"
    # OKX posSide
    assert c.liquidated_side_from_position("long") == "long"
    assert c.liquidated_side_from_position("short") == "short"
    with pytest.raises(PayloadError, match="side: expected"):
        c.liquidated_side_from_order("net")
    with pytest.raises(PayloadError, match="side: expected"):
        c.liquidated_side_from_position("net")


def _json_roundtrip(msg: dict) -> dict:
    return orjson.loads(orjson.dumps(msg))  # builders return JSON-ready values


def test_price_msg() -> None:
    msg = c.price_msg("bybit", "BTCUSDT", "BTC", 1756460000000, "109740.00",
                      volume_24h_usd="7276685854.7812", ingest_ts=1756460000100)
    assert _json_roundtrip(msg) == {
        "exchange": "bybit", "symbol": "BTCUSDT", "base": "BTC", "ts": 1756460000000,
        "ingest_ts": 1756460000100, "price": 109740.0, "volume_24h_usd": 7276685854.7812}
    # a 1000PEPE contract's price is per 1000 coins
    pepe = c.price_msg("binance", "1000PEPEUSDT", "PEPE", TS, "0.012345",
                       multiplier=Decimal(1000))
    assert pepe["price"] == pytest.approx(0.000012345)
    assert "volume_24h_usd" not in pepe
    for bad in ("0", "-1", "x"):
        with pytest.raises(PayloadError, match="price"):
            c.price_msg("bybit", "BTCUSDT", "BTC", TS, bad)


def test_funding_msg_keeps_the_interval() -> None:
    msg = c.funding_msg("binance", "BTCUSDT", "BTC", TS, "0.00038246", 8,
                        mark_price="11793.63104562")
    assert msg["funding_rate"] == 0.00038246 and msg["interval_hours"] == 8
    assert msg["mark_price"] == 11793.63104562
    hl = c.funding_msg("hyperliquid", "BTC", "BTC", TS, "0.0000125", "1")
    assert hl["interval_hours"] == 1 and hl["mark_price"] is None
    with pytest.raises(PayloadError, match="beyond"):
        c.funding_msg("okx", "X-USDT-SWAP", "X", TS, "0.06", 8)
    with pytest.raises(PayloadError, match="interval_hours"):
        c.funding_msg("okx", "X-USDT-SWAP", "X", TS, "0.001", 0)
    with pytest.raises(PayloadError, match="interval_hours"):
        c.funding_msg("okx", "X-USDT-SWAP", "X", TS, "0.001", 48)


def test_oi_msg_derives_the_missing_unit() -> None:
    both = c.oi_msg("bybit", "BTCUSDT", "BTC", TS, oi_base="52163.171",
                    oi_usd="5724375064.85")
    assert both["oi_base"] == 52163.171 and both["oi_usd"] == 5724375064.85
    # Binance /fapi/v1/openInterest gives base units only: x mark price
    usd = c.oi_msg("binance", "BTCUSDT", "BTC", TS, oi_base="10659.509", price="11793.63")
    assert usd["oi_usd"] == pytest.approx(10659.509 * 11793.63)
    coins = c.oi_msg("okx", "BTC-USDT-SWAP", "BTC", TS, oi_usd="50000", price="100")
    assert coins["oi_base"] == 500.0
    # 1000PEPE: oi in contracts of 1000 coins
    pepe = c.oi_msg("bybit", "1000PEPEUSDT", "PEPE", TS, oi_base="2", oi_usd="24",
                    multiplier=Decimal(1000))
    assert pepe["oi_base"] == 2000.0
    with pytest.raises(PayloadError, match="needs oi_base and oi_usd, or a price"):
        c.oi_msg("binance", "BTCUSDT", "BTC", TS, oi_base="1")
    with pytest.raises(PayloadError, match="oi_base"):
        c.oi_msg("binance", "BTCUSDT", "BTC", TS, oi_base="-1", oi_usd="1")


def test_liquidation_msg() -> None:
    # Bybit allLiquidation example: S=Sell (a short position), v=20000, p=0.04499
    msg = c.liquidation_msg("bybit", "ROSEUSDT", "ROSE", 1739502302929,
                            c.liquidated_side_from_position("Sell"), "0.04499", "20000",
                            ingest_ts=1739502303300)
    assert _json_roundtrip(msg) == {
        "exchange": "bybit", "symbol": "ROSEUSDT", "base": "ROSE", "ts": 1739502302929,
        "ingest_ts": 1739502303300, "id": "bybit:ROSEUSDT:1739502302929:short:20000",
        "side": "short", "price": 0.04499, "qty": 20000.0, "notional_usd": 899.8,
        "sampled": False}
    # Binance forceOrder: S=SELL (long liquidated), sampled feed, exact notional
    b = c.liquidation_msg("binance", "BTCUSDT", "BTC", 1568014460893,
                          c.liquidated_side_from_order("SELL"), "9910", "0.014", sampled=True)
    assert b["side"] == "long" and b["notional_usd"] == 138.74 and b["sampled"] is True
    d = c.liquidation_msg("dydx", "BTC-USD", "BTC", TS, "long", "1", "2", dedup_key="dydx:abc")
    assert d["id"] == "dydx:abc"
    with pytest.raises(PayloadError, match="side: must be"):
        c.liquidation_msg("okx", "BTC-USDT-SWAP", "BTC", TS, "sell", "1", "1")
    with pytest.raises(PayloadError, match="qty"):
        c.liquidation_msg("okx", "BTC-USDT-SWAP", "BTC", TS, "long", "1", "0")


def test_long_short_msg_from_any_one_number() -> None:
    # Binance globalLongShortAccountRatio example
    b = c.long_short_msg("binance", "BTCUSDT", "BTC", 1583139900000, "accounts",
                         long_share="0.6617", short_share="0.3382", ratio="1.9559")
    assert (b["long_share"], b["short_share"], b["ratio"]) == (0.6617, 0.3382, 1.9559)
    # Bybit buyRatio/sellRatio
    y = c.long_short_msg("bybit", "BTCUSDT", "BTC", TS, "accounts", long_share="0.49",
                         short_share="0.51")
    assert y["ratio"] == pytest.approx(0.49 / 0.51)
    # OKX gives only the ratio
    o = c.long_short_msg("okx", "BTC", "BTC", TS, "accounts", ratio="1.25")
    assert o["long_share"] == pytest.approx(1.25 / 2.25)
    assert o["long_share"] + o["short_share"] == pytest.approx(1.0)
    with pytest.raises(PayloadError, match="is not 1"):
        c.long_short_msg("x", "S", "B", TS, "accounts", long_share="0.7", short_share="0.7")
    with pytest.raises(PayloadError, match="population"):
        c.long_short_msg("x", "S", "B", TS, "whales", ratio="1")
    with pytest.raises(PayloadError, match="ratio is undefined"):
        c.long_short_msg("x", "S", "B", TS, "accounts", long_share="1")


def test_flow_msg() -> None:
    msg = c.flow_msg("ethereum", "USDT", 1705173443000, tx_hash="0xABC", log_index=92,
                     amount_usd="250000", from_addr="0x28C6c06298d514Db089934071355E5743bf21d60",
                     to_addr="0xdef", direction="outflow", exchange_label="binance")
    assert msg["chain"] == "ethereum" and msg["base"] == "USDT" and msg["symbol"] == "USDT"
    assert msg["tx_hash"] == "0xabc" and msg["from"].startswith("0x28c6")
    assert c.topic_of(msg) == "stablecoin_flows"
    with pytest.raises(PayloadError, match="direction"):
        c.flow_msg("ethereum", "USDT", TS, tx_hash="0x1", log_index=0, amount_usd=1,
                   from_addr="0x1", to_addr="0x2", direction="sideways", exchange_label=None)
    with pytest.raises(PayloadError, match="log_index"):
        c.flow_msg("ethereum", "USDT", TS, tx_hash="0x1", log_index=-1, amount_usd=1,
                   from_addr="0x1", to_addr="0x2", direction="inflow", exchange_label=None)


@pytest.mark.parametrize(("field", "value"), [
    ("exchange", ""), ("symbol", None), ("base", ""), ("ts", 1711356300), ("ts", "1711356300000"),
])
def test_common_fields_are_checked(field, value) -> None:
    args = {"exchange": "bybit", "symbol": "BTCUSDT", "base": "BTC", "ts": TS}
    args[field] = value
    with pytest.raises(PayloadError, match=f"{field}: "):
        c.price_msg(args["exchange"], args["symbol"], args["base"], args["ts"], "1")


def test_topic_of_every_builder() -> None:
    assert c.topic_of(c.price_msg("a", "s", "B", TS, "1")) == "prices"
    assert c.topic_of(c.funding_msg("a", "s", "B", TS, "0.0001", 8)) == "funding_rates"
    assert c.topic_of(c.oi_msg("a", "s", "B", TS, oi_base=1, oi_usd=1)) == "open_interest"
    assert c.topic_of(c.liquidation_msg("a", "s", "B", TS, "long", 1, 1)) == "liquidations"
    assert c.topic_of(c.long_short_msg("a", "s", "B", TS, "accounts", ratio=1)) == (
        "long_short_ratio")
    with pytest.raises(PayloadError):
        c.topic_of({"exchange": "a"})

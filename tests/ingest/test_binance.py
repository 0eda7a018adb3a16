"""Binance USD-M source: pure parsers on the recorded payloads (order side -> liquidated
position, sampled liquidations, funding interval from fundingInfo with the 8 h default)."""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal

import pytest

from harness.local_servers import HttpServer, Reply, WsServer
from harness.recorded import frames, lines, load, text
from ingest.contract import PayloadError
from ingest.sources import binance
from tests.ingest.source_harness import CollectSink, context, run_until

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


def test_ticker_24h_price_and_quote_volume() -> None:
    row = next(r for r in load("binance", "ticker_24hr.json") if r["symbol"] == "1000PEPEUSDT")
    (_, p), = binance.parse_ticker_24h(row, instruments()["1000PEPEUSDT"], W)
    assert (p["base"], p["ts"], p["volume_24h_usd"]) == ("PEPE", 1756460000020, 682914970.48)
    assert p["price"] == float(Decimal("0.0100240") / 1000)


# ---------------------------------------------------------------- live, against local servers

def _local_binance(http: HttpServer) -> None:
    for path, name in (("/fapi/v1/fundingInfo", "funding_info.json"),
                       ("/fapi/v1/exchangeInfo", "exchange_info.json"),
                       ("/fapi/v1/premiumIndex", "premium_index.json"),
                       ("/fapi/v1/ticker/24hr", "ticker_24hr.json"),
                       ("/fapi/v1/openInterest", "open_interest_btcusdt.json"),
                       ("/futures/data/globalLongShortAccountRatio",
                        "global_long_short_account_ratio_btcusdt.json")):
        http.default[path] = Reply(body=text("binance", name))
    http.once["/fapi/v1/premiumIndex"].extend([
        Reply(429, '{"code":-1003,"msg":"Too many requests; current limit is 2400 '
                   'requests per minute."}', {"Retry-After": "1"}),
        Reply(502, "<html><body>502 Bad Gateway</body></html>")])
    http.once["/futures/data/globalLongShortAccountRatio"].append(Reply(200, "[{\"symbol\""))


def _ws_frames() -> list[str]:
    out = frames("binance", "ws_force_order.jsonl")
    msg = json.loads(out[1])
    msg["o"]["V"] = "new field"
    out[1] = json.dumps(msg)
    return out


def test_live_normal_path_throttle_5xx_malformed_and_reconnect() -> None:
    async def scenario():
        with HttpServer() as http:
            _local_binance(http)
            async with WsServer(_ws_frames(), needs_subscribe=False, drop_after=1) as ws:
                sink = CollectSink()
                ctx = context("binance", binance, http,
                              f"ws://127.0.0.1:{ws.port}/market/ws/!forceOrder@arr", sink,
                              options={"ratio_poll_seconds": 0.5, "oi_poll_seconds": 0.3})
                await run_until(ctx, binance.run, lambda: (
                    len(sink.topic("liquidations")) >= 2 and sink.topic("long_short_ratio")
                    and sink.topic("open_interest") and len(ws.connections) >= 2))
                return sink, http, ws, ctx

    sink, http, ws, ctx = asyncio.run(scenario())
    assert len(ws.connections) >= 2 and ws.received == []  # the stream is in the URL: no subscribe
    liq = sink.topic("liquidations")
    assert [(m["symbol"], m["side"], m["sampled"]) for m in liq[:2]] == [
        ("BTCUSDT", "long", True), ("1000PEPEUSDT", "short", True)]
    funding = {m["symbol"]: m for m in sink.topic("funding_rates")}
    assert funding.keys() == {"BTCUSDT", "ETHUSDT", "1000PEPEUSDT"}
    assert funding["1000PEPEUSDT"]["interval_hours"] == 4
    (oi,) = {m["symbol"]: m for m in sink.topic("open_interest")}.values()
    assert oi["oi_usd"] == float(Decimal("81234.509") * Decimal("109736.10000000"))
    assert sink.topic("long_short_ratio")[0]["long_share"] == 0.6617
    (t0, _), (t1, _), _ = http.calls("/fapi/v1/premiumIndex")[:3]  # 429, 502, 200
    assert t1 - t0 >= 0.95
    (dead,) = [d for d in sink.dead_letters if "globalLongShort" in d["where"]]
    assert dead["source"] == "binance" and "not JSON" in dead["reason"]
    assert dead["raw"] == '[{"symbol"'
    assert ctx.health.gaps >= 1 and ctx.health.errors >= 3


def test_live_geo_block_is_reported_not_fatal() -> None:
    """HTTP 451 from a restricted location: no crash, an error in health naming the
    cause, a retry later (unreachable_retry_seconds), and nothing published."""
    async def scenario():
        with HttpServer() as http:
            for path in ("/fapi/v1/fundingInfo", "/fapi/v1/exchangeInfo"):
                http.default[path] = Reply(451, text("binance", "geo_blocked_451.json"))
            sink = CollectSink()
            ctx = context("binance", binance, http, "ws://127.0.0.1:9/market/ws/x", sink,
                          options={"unreachable_retry_seconds": 0.2})
            await run_until(ctx, binance.run, lambda: ctx.health.errors >= 3)
            return sink, http, ctx

    sink, http, ctx = asyncio.run(scenario())
    assert "unreachable from this location" in ctx.health.last_error
    assert "451" in ctx.health.last_error and "restricted location" in ctx.health.last_error
    assert len(http.calls("/fapi/v1/fundingInfo")) >= 2  # it tried again, once per retry
    assert sink.messages == []


def test_history_funding_open_interest_and_ratio() -> None:
    async def scenario() -> list[tuple[str, dict]]:
        with HttpServer() as http:
            _local_binance(http)
            http.once.clear()
            http.default["/fapi/v1/fundingRate"] = Reply(
                body=text("binance", "funding_rate_history_btcusdt.json"))
            http.default["/futures/data/openInterestHist"] = Reply(
                body=text("binance", "open_interest_hist_btcusdt.json"))
            sink = CollectSink()
            ctx = context("binance", binance, http, "ws://127.0.0.1:9", sink)
            ctx.settings = ctx.settings.model_copy(update={"symbols": ["BTCUSDT"]})
            out = [pair async for pair in binance.history(ctx, 1756400000000, 1756470000000)]
            await ctx.aclose()
            assert sink.dead_letters == []
            return out

    out = asyncio.run(scenario())
    assert [(t, m["ts"]) for t, m in out] == [
        ("funding_rates", 1756425600000), ("funding_rates", 1756454400001),
        ("open_interest", 1756458000000), ("open_interest", 1756461600000),
        ("long_short_ratio", 1756459800000)]
    assert out[2][1]["oi_usd"] == float(Decimal("8912570784.07809979"))


def test_live_persistent_403_is_reported_as_unreachable() -> None:
    """A CloudFront 403 is first treated as a throttle (paused on, retried); when it
    persists the source reports the venue unreachable and waits, without crashing."""
    async def scenario():
        with HttpServer() as http:
            http.default["/fapi/v1/fundingInfo"] = Reply(
                403, "<html><h1>403 ERROR</h1>The request could not be satisfied. "
                     "Request blocked. Generated by cloudfront (CloudFront)</html>")
            sink = CollectSink()
            ctx = context("binance", binance, http, "ws://127.0.0.1:9/market/ws/x", sink,
                          options={"unreachable_retry_seconds": 0.2,
                                   "forbidden_pause_seconds": 0.1})
            await run_until(ctx, binance.run,
                            lambda: "unreachable" in (ctx.health.last_error or ""))
            return sink, http, ctx

    sink, http, ctx = asyncio.run(scenario())
    assert "HTTP 403" in ctx.health.last_error
    assert len(http.calls("/fapi/v1/fundingInfo")) >= 5  # the client's retries came first
    assert sink.messages == []


def test_live_a_new_perpetual_in_the_stream_reloads_the_instruments() -> None:
    before = json.loads(text("binance", "exchange_info.json"))
    before["symbols"] = [s for s in before["symbols"] if s["symbol"] != "1000PEPEUSDT"]

    async def scenario():
        with HttpServer() as http:
            _local_binance(http)
            http.once.clear()
            http.once["/fapi/v1/exchangeInfo"].append(Reply(body=json.dumps(before)))
            pepe = frames("binance", "ws_force_order.jsonl")[1]
            async with WsServer([pepe], needs_subscribe=False) as ws:
                sink = CollectSink()
                ctx = context("binance", binance, http,
                              f"ws://127.0.0.1:{ws.port}/market/ws/!forceOrder@arr", sink)
                await run_until(ctx, binance.run,
                                lambda: sink.topic("liquidations") or sink.dead_letters)
                return sink

    sink = asyncio.run(scenario())
    assert sink.dead_letters == []
    (liq,) = sink.topic("liquidations")
    assert (liq["base"], liq["side"], liq["qty"]) == ("PEPE", "short", 120_000_000)

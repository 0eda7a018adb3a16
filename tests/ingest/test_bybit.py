"""Bybit v5 source: pure parsers on the recorded payloads (units, sides, intervals), and
the real module against a local HTTP + WebSocket server (see test_cex_live.py for the
shared failure cases)."""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal

import pytest

from harness.local_servers import HttpServer, Reply, WsServer
from harness.recorded import frames, lines, load, text
from ingest.contract import PayloadError
from ingest.sources import bybit
from tests.ingest.source_harness import CollectSink, context, run_until

W = "test"


def instruments() -> dict[str, bybit.Instrument]:
    out = {}
    for name in ("instruments_linear.json", "instruments_linear_page2.json"):
        for row in bybit.rows_of(load("bybit", name), W):
            inst = bybit.parse_instrument(row, W)
            if inst is not None:
                out[inst.symbol] = inst
    return out


def test_instruments_keep_perpetuals_with_their_funding_interval_in_minutes() -> None:
    insts = instruments()
    assert sorted(insts) == ["1000PEPEUSDT", "BTCUSDT", "ETHUSDT"]  # no dated future
    assert insts["BTCUSDT"] == bybit.Instrument("BTCUSDT", "BTC", Decimal(1), Decimal(8))
    pepe = insts["1000PEPEUSDT"]
    assert (pepe.base, pepe.multiplier, pepe.interval_hours) == ("PEPE", 1000, 4)  # 240 min


def test_ticker_gives_price_funding_and_open_interest_exactly() -> None:
    payload = load("bybit", "tickers_linear.json")
    rows = {r["symbol"]: r for r in bybit.rows_of(payload, W)}
    out = dict(bybit.parse_ticker(rows["BTCUSDT"], instruments()["BTCUSDT"], 1756460000000, W))
    assert out["prices"]["price"] == 109740.0
    assert out["prices"]["volume_24h_usd"] == 7276685854.7812
    f = out["funding_rates"]
    assert (f["funding_rate"], f["interval_hours"], f["mark_price"]) == (-0.00000874, 8, 109738.2)
    assert (f["exchange"], f["symbol"], f["base"], f["ts"]) == ("bybit", "BTCUSDT", "BTC",
                                                                1756460000000)
    oi = out["open_interest"]
    assert (oi["oi_base"], oi["oi_usd"]) == (52163.171, 5724375064.85)


def test_multiplied_contract_is_scaled_to_one_coin() -> None:
    """1000PEPEUSDT quotes the price of 1000 PEPE and counts OI in 1000-PEPE units."""
    rows = {r["symbol"]: r for r in bybit.rows_of(load("bybit", "tickers_linear.json"), W)}
    out = dict(bybit.parse_ticker(rows["1000PEPEUSDT"], instruments()["1000PEPEUSDT"],
                                  1756460000000, W))
    assert out["prices"]["base"] == "PEPE"
    assert out["prices"]["price"] == float(Decimal("0.0100230") / 1000)
    assert out["funding_rates"]["interval_hours"] == 4
    assert out["funding_rates"]["funding_rate"] == -0.00012553
    assert out["open_interest"]["oi_base"] == 6738920100 * 1000
    assert out["open_interest"]["oi_usd"] == 67557674.0  # USD value is not scaled


def test_account_ratio_is_account_shares() -> None:
    row = bybit.rows_of(load("bybit", "account_ratio_btcusdt.json"), W)[0]
    (topic, msg), = bybit.parse_account_ratio(row, instruments()["BTCUSDT"], W)
    assert topic == "long_short_ratio"
    assert (msg["long_share"], msg["short_share"], msg["population"]) == (0.6183, 0.3817,
                                                                           "accounts")
    assert msg["ratio"] == float(Decimal("0.6183") / Decimal("0.3817"))
    assert msg["ts"] == 1756459800000  # the row's string timestamp


def test_all_liquidation_side_is_the_position_side() -> None:
    """Bybit docs (All Liquidation): S is the position side; Buy = a long was liquidated."""
    frames = lines("bybit", "ws_all_liquidation.jsonl")
    out = bybit.parse_all_liquidation(frames[1], instruments(), W)
    (t1, buy), (t2, sell) = out
    assert t1 == t2 == "liquidations"
    assert buy["side"] == "long" and sell["side"] == "short"
    assert (buy["qty"], buy["price"], buy["ts"]) == (0.512, 109512.3, 1756460002929)
    assert buy["notional_usd"] == float(Decimal("0.512") * Decimal("109512.30"))
    assert buy["sampled"] is False  # allLiquidation is the complete stream


def test_all_liquidation_of_multiplied_contract() -> None:
    frames = lines("bybit", "ws_all_liquidation.jsonl")
    (_, msg), = bybit.parse_all_liquidation(frames[2], instruments(), W)
    assert (msg["base"], msg["side"]) == ("PEPE", "long")
    assert msg["qty"] == 20_000_000  # 20000 units of 1000 PEPE
    assert msg["price"] == float(Decimal("0.0099800") / 1000)
    assert msg["notional_usd"] == float(Decimal("20000") * Decimal("0.0099800"))


def test_liquidation_dedup_key_is_stable_and_distinct() -> None:
    frame = lines("bybit", "ws_all_liquidation.jsonl")[1]
    a = [m["id"] for _, m in bybit.parse_all_liquidation(frame, instruments(), W)]
    b = [m["id"] for _, m in bybit.parse_all_liquidation(frame, instruments(), W)]
    assert a == b and len(set(a)) == 2


def test_extra_fields_are_tolerated() -> None:
    frame = copy.deepcopy(lines("bybit", "ws_all_liquidation.jsonl")[1])
    frame["cs"] = 123456
    frame["data"][0]["newField"] = "x"
    assert len(bybit.parse_all_liquidation(frame, instruments(), W)) == 2


@pytest.mark.parametrize("field,bad", [("v", None), ("S", "Both"), ("T", "yesterday"),
                                       ("p", "NaN"), ("s", "NOPEUSDT")])
def test_malformed_liquidation_names_the_field(field: str, bad: object) -> None:
    frame = copy.deepcopy(lines("bybit", "ws_all_liquidation.jsonl")[1])
    if bad is None:
        del frame["data"][0][field]
    else:
        frame["data"][0][field] = bad
    with pytest.raises(PayloadError) as err:
        bybit.parse_all_liquidation(frame, instruments(), "ws allLiquidation")
    assert "ws allLiquidation" in err.value.reason
    assert field in err.value.reason or "side" in err.value.reason


def test_refused_call_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="retCode 10001"):
        bybit.rows_of({"retCode": 10001, "retMsg": "params error", "result": {}}, W)


def test_history_rows_are_valued_with_the_mark_price_of_their_bucket() -> None:
    inst = instruments()["BTCUSDT"]
    marks = bybit.parse_mark_klines(load("bybit", "mark_price_kline_btcusdt.json"), W)
    assert marks[1756458000000] == Decimal("109738.20")
    oi_row = bybit.rows_of(load("bybit", "open_interest_btcusdt.json"), W)[0]
    hour = bybit.PERIOD_MS["1h"]
    # the kline that ENDED at the row's time, never a later one (no look-ahead)
    mark = bybit.mark_at(marks, 1756458000000, hour)
    assert mark == Decimal("109901.10")
    assert bybit.mark_at(marks, 1756458000000 + hour, hour) == Decimal("109738.20")
    assert bybit.mark_at(marks, 1756454400000, hour) == Decimal("109901.10")  # fallback
    assert bybit.mark_at(marks, 1756400000000, hour) is None
    (_, oi), = bybit.parse_open_interest_history(oi_row, inst, mark, W)
    assert oi["oi_base"] == 52163.171
    assert oi["oi_usd"] == float(Decimal("52163.17100000") * Decimal("109901.10"))
    f_row = bybit.rows_of(load("bybit", "funding_history_btcusdt.json"), W)[0]
    (_, f), = bybit.parse_funding_history(f_row, inst, mark, W)
    assert (f["funding_rate"], f["interval_hours"], f["ts"]) == (0.0001, 8, 1756454400000)
    with pytest.raises(PayloadError, match="no mark price"):
        bybit.parse_open_interest_history(oi_row, inst, None, W)


def test_subscriptions_respect_the_per_request_and_per_connection_limits() -> None:
    symbols = [f"S{i}USDT" for i in range(25)]
    conns = bybit.subscribe_batches(symbols, per_connection=12, per_request=10)
    assert [[len(r["args"]) for r in c] for c in conns] == [[10, 2], [10, 2], [1]]
    assert conns[0][0] == {"op": "subscribe",
                           "args": [f"allLiquidation.S{i}USDT" for i in range(10)]}


# ---------------------------------------------------------------- live, against local servers

def _local_bybit(http: HttpServer) -> None:
    path = "/v5/market/instruments-info"
    http.default[path] = Reply(body=text("bybit", "instruments_linear.json"))
    http.by_query[(path, "cursor", "first%3DBTCUSDT%26last%3DETHUSDT")] = Reply(
        body=text("bybit", "instruments_linear_page2.json"))
    path = "/v5/market/tickers"
    http.once[path].extend([Reply(429, '{"retCode":10006,"retMsg":"Too many visits!"}',
                                  {"Retry-After": "1"}),
                            Reply(503, "<html>503 Service Temporarily Unavailable</html>")])
    http.default[path] = Reply(body=text("bybit", "tickers_linear.json"))
    path = "/v5/market/account-ratio"
    http.once[path].append(Reply(200, "<html>502 Bad Gateway</html>"))
    http.by_query[(path, "symbol", "BTCUSDT")] = Reply(body=text("bybit",
                                                                 "account_ratio_btcusdt.json"))
    http.default[path] = Reply(body='{"retCode":0,"retMsg":"OK","result":{"list":[],'
                                    '"nextPageCursor":""},"retExtInfo":{},"time":1756460001234}')


def _ws_frames() -> list[str]:
    out = frames("bybit", "ws_all_liquidation.jsonl")
    pepe = json.loads(out[2])
    pepe["data"][0]["isNew"] = True  # an unexpected extra field
    out[2] = json.dumps(pepe)
    return out


def test_live_normal_path_throttle_5xx_malformed_and_reconnect() -> None:
    async def scenario() -> tuple[CollectSink, HttpServer, WsServer, object]:
        with HttpServer() as http:
            _local_bybit(http)
            async with WsServer(_ws_frames(), drop_after=2) as ws:
                sink = CollectSink()
                ctx = context("bybit", bybit, http, f"ws://127.0.0.1:{ws.port}", sink,
                              options={"ratio_poll_seconds": 0.5})
                await run_until(ctx, bybit.run, lambda: (
                    len(sink.topic("liquidations")) >= 3 and sink.topic("long_short_ratio")
                    and sink.topic("funding_rates") and len(ws.connections) >= 2))
                return sink, http, ws, ctx

    sink, http, ws, ctx = asyncio.run(scenario())
    # normal path: the contract's fields with the recorded values
    liq = sink.topic("liquidations")
    assert [(m["symbol"], m["side"]) for m in liq[:3]] == [
        ("BTCUSDT", "long"), ("BTCUSDT", "short"), ("1000PEPEUSDT", "long")]
    assert {"exchange", "symbol", "base", "ts", "ingest_ts", "id", "side", "price", "qty",
            "notional_usd"} <= liq[0].keys()
    funding = {m["symbol"]: m for m in sink.topic("funding_rates")}
    assert funding.keys() == {"BTCUSDT", "ETHUSDT", "1000PEPEUSDT"}  # no dated future
    assert (funding["1000PEPEUSDT"]["interval_hours"], funding["BTCUSDT"]["ts"]) == (
        4, 1756460000000)
    ratio = sink.topic("long_short_ratio")[0]
    assert (ratio["symbol"], ratio["long_share"]) == ("BTCUSDT", 0.6183)
    # 429 + Retry-After: the client waited before asking again; then the 503 was retried
    (t0, _), (t1, _), _ = http.calls("/v5/market/tickers")[:3]  # 429, 503, 200
    assert t1 - t0 >= 0.95
    # the malformed body went to the dead letters with source, reason and the raw text
    (dead,) = [d for d in sink.dead_letters if "502 Bad Gateway" in d["raw"]]
    assert dead["source"] == "bybit" and "not JSON" in dead["reason"]
    assert "account-ratio" in dead["where"]
    # the dropped stream reconnected and subscribed again
    assert ws.subscribes(1) and ws.subscribes(2)
    assert json.loads(ws.subscribes(2)[0])["args"] == [
        "allLiquidation.1000PEPEUSDT", "allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"]
    assert ctx.health.gaps >= 1 and ctx.health.errors >= 3
    assert ctx.health.dead_letters == len(sink.dead_letters)


def test_live_once_makes_one_pass_and_returns() -> None:
    async def scenario() -> CollectSink:
        with HttpServer() as http:
            _local_bybit(http)
            http.once.clear()
            async with WsServer(_ws_frames()) as ws:
                sink = CollectSink()
                ctx = context("bybit", bybit, http, f"ws://127.0.0.1:{ws.port}", sink,
                              options={"once_stream_seconds": 2})
                ctx.once = True  # what `python -m ingest bybit --once` asks for
                await asyncio.wait_for(bybit.run(ctx), 30)
                await ctx.aclose()
                return sink

    sink = asyncio.run(scenario())
    assert len(sink.topic("prices")) == 3 and len(sink.topic("liquidations")) == 3


def test_history_pages_funding_open_interest_and_ratio() -> None:
    async def scenario() -> list[tuple[str, dict]]:
        with HttpServer() as http:
            _local_bybit(http)
            http.once.clear()
            for path, name in (("/v5/market/mark-price-kline", "mark_price_kline_btcusdt.json"),
                               ("/v5/market/funding/history", "funding_history_btcusdt.json"),
                               ("/v5/market/open-interest", "open_interest_btcusdt.json")):
                http.default[path] = Reply(body=text("bybit", name))
            http.once["/v5/market/account-ratio"].extend([  # a page, then the empty last one
                Reply(body=text("bybit", "account_ratio_btcusdt.json")),
                http.default["/v5/market/account-ratio"]])
            sink = CollectSink()
            ctx = context("bybit", bybit, http, "ws://127.0.0.1:9", sink)
            ctx.settings = ctx.settings.model_copy(update={"symbols": ["BTCUSDT"]})
            out = [pair async for pair in bybit.history(ctx, 1756400000000, 1756460000000)]
            await ctx.aclose()
            assert sink.dead_letters == []
            return out

    out = asyncio.run(scenario())
    by_topic: dict[str, list[dict]] = {}
    for topic, msg in out:
        by_topic.setdefault(topic, []).append(msg)
    funding = by_topic["funding_rates"]
    assert [m["ts"] for m in funding] == [1756425600000, 1756454400000]  # oldest first
    assert funding[1]["mark_price"] == 109901.1 and funding[0]["mark_price"] is None
    oi = by_topic["open_interest"]
    assert [m["ts"] for m in oi] == [1756454400000, 1756458000000]
    assert oi[1]["oi_usd"] == float(Decimal("52163.17100000") * Decimal("109901.10"))
    assert [m["long_share"] for m in by_topic["long_short_ratio"]] == [0.6171, 0.6183]


def test_live_once_skips_the_stream_by_default() -> None:
    async def scenario() -> CollectSink:
        with HttpServer() as http:
            _local_bybit(http)
            http.once.clear()
            sink = CollectSink()
            ctx = context("bybit", bybit, http, "ws://127.0.0.1:9", sink)  # nothing listens
            ctx.once = True
            await asyncio.wait_for(bybit.run(ctx), 30)
            await ctx.aclose()
            return sink

    sink = asyncio.run(scenario())
    assert len(sink.topic("funding_rates")) == 3 and sink.topic("liquidations") == []
    assert sink.dead_letters == []


def test_live_new_listing_resubscribes_with_the_new_topic_set() -> None:
    async def scenario():
        with HttpServer() as http:
            _local_bybit(http)
            http.once.clear()
            first = json.loads(text("bybit", "instruments_linear.json"))
            first["result"]["nextPageCursor"] = ""  # before the listing: BTC and ETH only
            http.once["/v5/market/instruments-info"].append(Reply(body=json.dumps(first)))
            async with WsServer([]) as ws:
                sink = CollectSink()
                ctx = context("bybit", bybit, http, f"ws://127.0.0.1:{ws.port}", sink,
                              options={"instruments_refresh_seconds": 0.5})
                await run_until(ctx, bybit.run, lambda: len(ws.subscribes(2)) >= 1)
                return ws

    ws = asyncio.run(scenario())
    assert json.loads(ws.subscribes(1)[0])["args"] == ["allLiquidation.BTCUSDT",
                                                       "allLiquidation.ETHUSDT"]
    assert "allLiquidation.1000PEPEUSDT" in json.loads(ws.subscribes(2)[0])["args"]


def test_live_refused_subscription_is_counted_and_the_stream_goes_on() -> None:
    refusal = json.dumps({"success": False, "op": "subscribe", "conn_id": "c1",
                          "ret_msg": "error:handler not found,topic:allLiquidation.OLDUSDT"})
    async def scenario():
        with HttpServer() as http:
            _local_bybit(http)
            http.once.clear()
            async with WsServer([refusal, frames("bybit", "ws_all_liquidation.jsonl")[1]]) as ws:
                sink = CollectSink()
                ctx = context("bybit", bybit, http, f"ws://127.0.0.1:{ws.port}", sink)
                await run_until(ctx, bybit.run, lambda: len(sink.topic("liquidations")) >= 2)
                return sink, ctx

    sink, ctx = asyncio.run(scenario())
    assert "handler not found" in ctx.health.last_error
    assert sink.dead_letters == []  # a refusal is not upstream data


def test_live_unreadable_instrument_list_is_dead_lettered_and_retried() -> None:
    async def scenario():
        with HttpServer() as http:
            _local_bybit(http)
            http.once.clear()
            http.once["/v5/market/instruments-info"].append(
                Reply(200, "<html><body>The system is under maintenance</body></html>"))
            sink = CollectSink()
            ctx = context("bybit", bybit, http, "ws://127.0.0.1:9", sink,
                          options={"instruments_retry_seconds": 0.2})
            await run_until(ctx, bybit.run, lambda: len(sink.topic("funding_rates")) >= 3)
            return sink, http

    sink, http = asyncio.run(scenario())
    (dead,) = sink.dead_letters
    assert "maintenance" in dead["raw"] and "not JSON" in dead["reason"]
    assert len(http.calls("/v5/market/instruments-info")) >= 3  # failed, then 2 pages

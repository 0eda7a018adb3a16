"""OKX v5 source: pure parsers on the recorded payloads (contracts -> coins and USD,
side/posSide, funding interval from the funding times)."""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal

import pytest

from harness.local_servers import HttpServer, Reply, WsServer
from harness.recorded import frames, lines, load, text
from ingest.contract import PayloadError
from ingest.sources import okx
from ingest.sources.common import split_data
from tests.ingest.source_harness import CollectSink, context, run_until

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


def test_ticker_price_and_usd_volume() -> None:
    (_, p), = okx.parse_ticker(rows("tickers_swap.json")["BTC-USD-SWAP"],
                               instruments()["BTC-USD-SWAP"], W)
    assert (p["price"], p["ts"], p["base"]) == (109752.4, 1756460000012, "BTC")
    assert p["volume_24h_usd"] == float(Decimal("3311.2051") * Decimal("109752.4"))


# ---------------------------------------------------------------- live, against local servers

def _local_okx(http: HttpServer) -> None:
    for path, name in (("/api/v5/public/instruments", "instruments_swap.json"),
                       ("/api/v5/public/mark-price", "mark_price_swap.json"),
                       ("/api/v5/public/funding-rate", "funding_rate_any.json"),
                       ("/api/v5/public/open-interest", "open_interest_swap.json"),
                       ("/api/v5/market/tickers", "tickers_swap.json"),
                       ("/api/v5/rubik/stat/trading-data/support-coin", "support_coin.json")):
        http.default[path] = Reply(body=text("okx", name))
    http.once["/api/v5/public/funding-rate"].extend([
        Reply(429, '{"code":"50011","msg":"Too Many Requests","data":[]}', {"Retry-After": "1"}),
        Reply(500, '{"code":"50001","msg":"Service temporarily unavailable","data":[]}')])
    path = "/api/v5/rubik/stat/contracts/long-short-account-ratio"
    http.once[path].append(Reply(200, '{"code":"0","msg":"","data":[["1756459800000",'))
    http.by_query[(path, "ccy", "BTC")] = Reply(body=text("okx",
                                                          "long_short_account_ratio_btc.json"))
    http.default[path] = Reply(body='{"code":"0","msg":"","data":[]}')


def _ws_frames() -> list[str]:
    out = frames("okx", "ws_liquidation_orders.jsonl")
    push = json.loads(out[2])
    push["data"][0]["details"][0]["newField"] = "tolerated"
    out[2] = json.dumps(push)
    return out


def test_live_normal_path_throttle_5xx_malformed_and_reconnect() -> None:
    async def scenario():
        with HttpServer() as http:
            _local_okx(http)
            async with WsServer(_ws_frames(), drop_after=2) as ws:
                sink = CollectSink()
                ctx = context("okx", okx, http, f"ws://127.0.0.1:{ws.port}", sink,
                              options={"ratio_poll_seconds": 0.5, "rubik_pause_seconds": 0.4,
                                       "ws_ping_seconds": 0.5})
                await run_until(ctx, okx.run, lambda: (
                    len(sink.topic("liquidations")) >= 3 and sink.topic("long_short_ratio")
                    and sink.topic("funding_rates") and len(ws.connections) >= 2
                    and any(t == "ping" for _, t in ws.received)))
                return sink, http, ws, ctx

    sink, http, ws, ctx = asyncio.run(scenario())
    liq = sink.topic("liquidations")
    assert [(m["symbol"], m["side"]) for m in liq[:3]] == [
        ("BTC-USDT-SWAP", "long"), ("BTC-USD-SWAP", "short"), ("PEPE-USDT-SWAP", "long")]
    assert liq[1]["notional_usd"] == 25000.0 and all(m["sampled"] for m in liq)
    funding = {m["symbol"]: m for m in sink.topic("funding_rates")}
    assert funding["BTC-USDT-SWAP"]["mark_price"] == 109731.4
    assert funding["PEPE-USDT-SWAP"]["interval_hours"] == 4
    oi = {m["symbol"]: m for m in sink.topic("open_interest")}
    assert oi["BTC-USD-SWAP"]["oi_usd"] == 610233400.0
    assert {m["symbol"] for m in sink.topic("long_short_ratio")} == {"BTC"}
    assert len(sink.topic("prices")) >= 4
    (t0, _), (t1, _), _ = http.calls("/api/v5/public/funding-rate")[:3]  # 429, 500, 200
    assert t1 - t0 >= 0.95
    (dead,) = [d for d in sink.dead_letters if "long-short" in d["where"]]
    assert dead["source"] == "okx" and "not JSON" in dead["reason"]
    assert dead["raw"].startswith('{"code":"0"')
    assert ws.subscribes(1) == ws.subscribes(2) == [
        '{"op":"subscribe","args":[{"channel":"liquidation-orders","instType":"SWAP"}]}']
    assert ctx.health.gaps >= 1 and ctx.health.errors >= 3
    # keepalive replies are not data
    assert not [d for d in sink.dead_letters if d["raw"] == "pong"]


def test_history_funding_open_interest_and_ratio() -> None:
    async def scenario() -> list[tuple[str, dict]]:
        with HttpServer() as http:
            _local_okx(http)
            http.once.clear()
            for path, name in (
                    ("/api/v5/public/funding-rate-history",
                     "funding_rate_history_btc_usdt_swap.json"),
                    ("/api/v5/rubik/stat/contracts/open-interest-history",
                     "open_interest_history_btc_usdt_swap.json")):
                http.default[path] = Reply(body=text("okx", name))
            sink = CollectSink()
            ctx = context("okx", okx, http, "ws://127.0.0.1:9", sink,
                          options={"rubik_pause_seconds": 0.4})
            ctx.settings = ctx.settings.model_copy(update={"symbols": ["BTC-USDT-SWAP"]})
            out = [pair async for pair in okx.history(ctx, 1756400000000, 1756460000000)]
            await ctx.aclose()
            assert sink.dead_letters == []
            return out

    out = asyncio.run(scenario())
    funding = [m for t, m in out if t == "funding_rates"]
    assert [(m["ts"], m["interval_hours"]) for m in funding] == [(1756425600000, 8),
                                                                 (1756454400000, 8)]
    assert [m["oi_base"] for t, m in out if t == "open_interest"] == [26601.0211, 26725.1024]
    ratio = [m for t, m in out if t == "long_short_ratio"]
    assert [(m["symbol"], m["ratio"]) for m in ratio] == [("BTC", 1.31), ("BTC", 1.25)]


def test_live_funding_falls_back_to_per_instrument_when_any_is_refused() -> None:
    async def scenario():
        with HttpServer() as http:
            _local_okx(http)
            http.once.clear()
            path = "/api/v5/public/funding-rate"
            funding = rows("funding_rate_any.json")
            for inst_id, row in funding.items():
                http.by_query[(path, "instId", inst_id)] = Reply(
                    body=json.dumps({"code": "0", "msg": "", "data": [row]}, default=str))
            http.by_query[(path, "instId", "ANY")] = Reply(
                400, '{"code":"51001","msg":"Instrument ID does not exist","data":[]}')
            sink = CollectSink()
            ctx = context("okx", okx, http, "ws://127.0.0.1:9", sink)
            ctx.once = True
            await asyncio.wait_for(okx.run(ctx), 30)
            await ctx.aclose()
            return sink, http

    sink, http = asyncio.run(scenario())
    assert {m["symbol"] for m in sink.topic("funding_rates")} == {
        "BTC-USDT-SWAP", "ETH-USDT-SWAP", "BTC-USD-SWAP", "PEPE-USDT-SWAP"}
    asked = [q["instId"] for _, q in http.calls("/api/v5/public/funding-rate")]
    assert asked[0] == "ANY" and sorted(asked[1:]) == sorted(rows("funding_rate_any.json"))
    assert sink.dead_letters == []


def test_one_unknown_instrument_does_not_cost_the_rest_of_the_push() -> None:
    frame = lines("okx", "ws_liquidation_orders.jsonl")[2]
    frame["data"][0]["instId"] = "NEW-USD-SWAP"
    parts = split_data(frame)
    assert len(parts) == 2
    with pytest.raises(PayloadError):
        okx.parse_liquidation_orders(parts[0], instruments(), W)
    (_, pepe), = okx.parse_liquidation_orders(parts[1], instruments(), W)
    assert pepe["symbol"] == "PEPE-USDT-SWAP"


def test_settlement_interval_of_a_lone_history_row_comes_from_the_current_funding() -> None:
    rows_ = okx.rows_of(load("okx", "funding_rate_history_btc_usdt_swap.json"), W)[:1]
    current = rows("funding_rate_any.json")["PEPE-USDT-SWAP"]  # a 4 h instrument
    assert okx._settlement_hours(rows_, current) == [Decimal(4)]
    assert okx._settlement_hours(rows_, None) == [None]  # never a guessed 8 h


def test_live_a_new_listing_in_the_stream_reloads_the_contract_values() -> None:
    """A swap listed after the instrument load: its push is parsed after a reload (ctVal
    learnt), not dead-lettered."""
    listed = json.loads(text("okx", "instruments_swap.json"))
    sol = dict(listed["data"][1], instId="SOL-USDT-SWAP", instFamily="SOL-USDT",
               uly="SOL-USDT", ctValCcy="SOL", ctVal="1")
    listed["data"].append(sol)
    push = json.loads(frames("okx", "ws_liquidation_orders.jsonl")[1])
    push["data"][0].update(instId="SOL-USDT-SWAP", instFamily="SOL-USDT", uly="SOL-USDT")
    push["data"][0]["details"][0].update(bkPx="201.37", sz="5")

    async def scenario():
        with HttpServer() as http:
            _local_okx(http)
            http.once.clear()
            path = "/api/v5/public/instruments"
            http.once[path].append(Reply(body=text("okx", "instruments_swap.json")))
            http.default[path] = Reply(body=json.dumps(listed))
            async with WsServer([json.dumps(push)]) as ws:
                sink = CollectSink()
                ctx = context("okx", okx, http, f"ws://127.0.0.1:{ws.port}", sink,
                              options={"unknown_reload_seconds": 60})
                await run_until(ctx, okx.run,
                                lambda: sink.topic("liquidations") or sink.dead_letters)
                return sink

    sink = asyncio.run(scenario())
    assert sink.dead_letters == []
    (liq,) = sink.topic("liquidations")
    assert (liq["symbol"], liq["base"], liq["qty"], liq["side"]) == ("SOL-USDT-SWAP", "SOL",
                                                                    5.0, "long")

"""dYdX v4 indexer: unit conversions and the liquidation side convention on the documented
payloads, trade paging, and the source against a local server."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from harness.local_servers import HttpServer, Reply
from ingest.contract import PayloadError
from ingest.sources import dydx
from tests.ingest.source_harness import (
    collect_history,
    fixture,
    make_ctx,
    run_until,
    run_until_async,
    seen,
)

TS = 1795183200000
MARKETS = json.loads(fixture("dydx", "perpetual_markets.json"))
TRADES = json.loads(fixture("dydx", "trades_btc.json"))


def market(ticker: str) -> dict:
    emits = dydx.parse_market(ticker, MARKETS["markets"][ticker], TS)
    return {t: m for t, m in emits}


def test_market_funding_is_next_hourly_rate_and_oi_in_coins_at_oracle_price():
    m = market("BTC-USD")
    f = m["funding_rates"]
    assert f["funding_rate"] == float(Decimal("0.00000258536585365854"))
    assert f["interval_hours"] == 1 and f["mark_price"] == 82501.0 and f["base"] == "BTC"
    oi = m["open_interest"]
    assert oi["oi_base"] == 228.1848
    assert oi["oi_usd"] == float(Decimal("228.1848") * 82501)
    assert m["prices"]["price"] == 82501.0 and m["prices"]["volume_24h_usd"] == 7782607.3308
    assert m["funding_rates"]["exchange"] == "dydx" and m["prices"]["symbol"] == "BTC-USD"


def test_negative_funding_and_tiny_prices_stay_exact():
    eth = market("ETH-USD")
    assert eth["funding_rates"]["funding_rate"] == -0.00000519512195121951
    pepe = market("PEPE-USD")
    assert pepe["prices"]["base"] == "PEPE" and pepe["prices"]["price"] == 0.000007132
    oi_usd = Decimal("163400000000") * Decimal("0.000007132")
    assert pepe["open_interest"]["oi_usd"] == float(oi_usd)


def test_market_not_active_is_skipped():
    assert dydx.parse_market("LUNA-USD", MARKETS["markets"]["LUNA-USD"], TS) == []


def test_liquidated_trade_side_is_the_liquidated_takers_order_side():
    rows = dydx.trade_rows(TRADES, "trades")
    liqs = [m for r in rows if (m := dydx.parse_liquidation("BTC-USD", r)) is not None]
    assert [(m["id"], m["side"]) for m in liqs] == [
        ("0230b5a60000000200000005", "long"),   # SELL: the liquidated long was sold
        ("0230b5a60000000200000003", "long"),
        ("0230b5a20000000200000004", "short"),  # BUY: a short was bought back
    ]
    first = liqs[0]
    assert first["ts"] == 1795183746318  # createdAt 2026-11-20T14:09:06.318Z
    assert first["price"] == 82455.0 and first["qty"] == 0.3147
    assert first["notional_usd"] == float(Decimal("0.3147") * 82455)
    assert first["base"] == "BTC" and first["exchange"] == "dydx"


def test_deleveraged_only_when_asked_and_other_types_never():
    rows = dydx.trade_rows(TRADES, "trades")
    delev = next(r for r in rows if r["type"] == "DELEVERAGED")
    assert dydx.parse_liquidation("BTC-USD", delev) is None
    assert dydx.parse_liquidation("BTC-USD", delev, include_deleveraged=True)["side"] == "long"
    assert all(dydx.parse_liquidation("BTC-USD", r) is None
               for r in rows if r["type"] in ("LIMIT", "MARKET"))


def test_bad_liquidation_side_names_the_trade():
    row = {**TRADES["trades"][1], "side": "FLAT"}
    with pytest.raises(PayloadError, match=r"0230b5a60000000200000005.*side"):
        dydx.parse_liquidation("BTC-USD", row)


def test_cursor_takes_each_trade_once_across_overlapping_pages():
    cursor = dydx.TradeCursor()
    rows = TRADES["trades"]
    assert len(dydx.new_trades(cursor, [rows, rows[2:]])) == 6
    cursor.advance(rows)
    assert cursor.height == 36745639
    newer = {**rows[0], "id": "x1", "createdAtHeight": "36745640"}
    same_height = {**rows[0], "id": "x2"}
    assert [r["id"] for r in dydx.new_trades(cursor, [[newer, same_height, *rows]])] == ["x1", "x2"]


def test_historical_funding():
    payload = json.loads(fixture("dydx", "historical_funding_btc.json"))
    msgs = dydx.parse_historical_funding("BTC-USD", payload, "historicalFunding")
    assert [m["ts"] for m in msgs] == [1795183200013, 1795179600419, 1795176000221]
    assert msgs[1]["funding_rate"] == -0.0000031 and msgs[1]["mark_price"] == 82790.0041


# ---------------------------------------------------------------- against a local server

def start(server: HttpServer, trades: list[Reply], ws_url: str | None = None, **options):
    server.add("/perpetualMarkets", Reply(200, fixture("dydx", "perpetual_markets.json")))
    server.add("/trades/perpetualMarket/BTC-USD", *trades)
    server.add("/trades/perpetualMarket/ETH-USD", Reply(200, {"trades": []}))
    server.add("/trades/perpetualMarket/PEPE-USD", Reply(200, {"trades": []}))
    opts = {"trades_poll_seconds": 0.05, "startup_lookback_seconds": 10**8, **options}
    return make_ctx("dydx", dydx, server.url, options=opts, poll_seconds=0.05, ws_url=ws_url,
                    budget={"requests": 200, "per_seconds": 1})


def test_source_publishes_markets_and_each_liquidation_once(http_server):
    newer = {"trades": [{"id": "0230b5b10000000200000001", "side": "BUY", "size": "0.5",
                         "price": "82600", "type": "LIQUIDATED",
                         "createdAt": "2026-11-20T14:09:20.001Z", "createdAtHeight": "36745650"},
                        *TRADES["trades"]]}
    ctx = start(http_server, [Reply(200, TRADES), Reply(200, TRADES), Reply(200, newer)])
    done = lambda: len(seen(http_server, "/trades/perpetualMarket/BTC-USD")) >= 4  # noqa: E731
    asyncio.run(run_until(ctx, dydx.run, done))
    ids = [m["id"] for m in ctx.sink.topic("liquidations")]
    assert ids == ["0230b5a60000000200000005", "0230b5a60000000200000003",
                   "0230b5a20000000200000004", "0230b5b10000000200000001"]
    assert {m["symbol"] for m in ctx.sink.topic("funding_rates")} == {
        "BTC-USD", "ETH-USD", "PEPE-USD"}
    # busiest market first: BTC (2042 trades in 24 h) before ETH before PEPE
    order = [r.path for r in http_server.requests if r.path.startswith("/trades")][:3]
    assert order == ["/trades/perpetualMarket/BTC-USD", "/trades/perpetualMarket/ETH-USD",
                     "/trades/perpetualMarket/PEPE-USD"]
    assert seen(http_server, "/trades/perpetualMarket/BTC-USD")[0].query["limit"] == "100"


def test_a_full_page_is_followed_back_to_the_last_trade_seen(http_server):
    def page(start_height: int, n: int, prefix: str) -> dict:
        return {"trades": [{"id": f"{prefix}{i}", "side": "SELL", "size": "1", "price": "82000",
                            "type": "LIQUIDATED", "createdAt": "2026-11-20T14:10:00.000Z",
                            "createdAtHeight": str(start_height - i)} for i in range(n)]}
    first = page(100, 2, "a")           # first poll: cursor at height 100
    full = page(104, 2, "b")            # limit=2 and all new -> one more page
    older = {"trades": [page(102, 1, "c")["trades"][0], *first["trades"]]}  # reaches "a0"
    ctx = start(http_server, [Reply(200, first), Reply(200, full), Reply(200, older),
                         Reply(200, {"trades": []})], trades_limit=2)
    done = lambda: len(seen(http_server, "/trades/perpetualMarket/BTC-USD")) >= 4  # noqa: E731
    asyncio.run(run_until(ctx, dydx.run, done))
    calls = seen(http_server, "/trades/perpetualMarket/BTC-USD")
    assert "createdBeforeOrAtHeight" not in calls[1].query
    assert calls[2].query["createdBeforeOrAtHeight"] == "103"
    assert [m["id"] for m in ctx.sink.topic("liquidations")] == ["a0", "a1", "b0", "b1", "c0"]


def test_429_5xx_and_malformed_answers_do_not_stop_the_source(http_server):
    ctx = start(http_server, [Reply(429, "slow down", {"Retry-After": "1"}),
                         Reply(503, "unavailable"),
                         Reply(200, b"{not json"),
                         Reply(200, {"trades": "none"}),
                         Reply(200, TRADES)])
    done = lambda: len(ctx.sink.topic("liquidations")) >= 3  # noqa: E731
    asyncio.run(run_until(ctx, dydx.run, done))
    reasons = [d["reason"] for d in ctx.sink.dead_letters]
    assert any("not JSON" in r for r in reasons)
    assert any("trades: expected a list" in r for r in reasons)
    assert all(d["source"] == "dydx" for d in ctx.sink.dead_letters)
    assert ctx.health.errors >= 2  # the 429 and the 503


def test_extra_fields_are_tolerated(http_server):
    payload = json.loads(fixture("dydx", "trades_btc.json"))
    for row in payload["trades"]:
        row["makerSubaccountNumber"] = 0
    payload["pageSize"] = 100
    ctx = start(http_server, [Reply(200, payload)])
    done = lambda: len(ctx.sink.topic("liquidations")) >= 3  # noqa: E731
    asyncio.run(run_until(ctx, dydx.run, done))
    assert not ctx.sink.dead_letters


def test_history_reads_hourly_funding_back_from_the_end(http_server):
    http_server.add("/historicalFunding/BTC-USD",
                    Reply(200, fixture("dydx", "historical_funding_btc.json")))
    ctx = make_ctx("dydx", dydx, http_server.url, symbols=["BTC-USD"])
    got = collect_history(ctx, dydx, 1795176000000, 1795183200013)
    assert [m["ts"] for _, m in got] == [1795176000221, 1795179600419]  # oldest first
    q = seen(http_server, "/historicalFunding/BTC-USD")[0].query
    assert q["effectiveBeforeOrAt"] == "2026-11-20T14:00:00.012Z" and q["limit"] == "1000"


# ---------------------------------------------------------------- v4_trades stream

WS_FRAMES = json.loads(fixture("dydx", "ws_trades_btc.json"))


def test_ws_frames_give_liquidations_in_both_message_versions():
    batches = [b for f in WS_FRAMES for b in dydx.ws_trade_batches(f)]
    liqs = [m for t, rows in batches for r in rows
            if (m := dydx.parse_liquidation(t, r)) is not None]
    assert [(m["id"], m["side"]) for m in liqs] == [
        ("0230b5a60000000200000005", "long"), ("0230b5c10000000200000003", "long"),
        ("8ee6d90d-272d-5edd-bf0f-2e4d6ae3d3b7", "short")]  # "liquidation": true, BUY
    assert liqs[1]["ts"] == 1795183802117 and liqs[1]["notional_usd"] == float(
        Decimal("0.125") * 82310)
    with pytest.raises(PayloadError, match="error frame"):
        dydx.ws_trade_batches({"type": "error", "message": "Invalid subscribe message"})


def test_stream_publishes_liquidations_once_and_resubscribes_after_a_drop(http_server):
    """The stream and the REST poll see the same trades: each liquidation is published once;
    a dropped connection reconnects, subscribes again and leaves a gap record."""
    from harness.local_servers import WsServer

    async def go():
        frames = list(WS_FRAMES)

        def on_message(conn: int, text: str):
            return frames[1] if json.loads(text)["type"] == "subscribe" else None

        async with WsServer(on_message=on_message,
                            on_connect=lambda n: [frames[0]]) as ws:
            ctx = start(http_server, [Reply(200, TRADES)], ws_url=ws.url,
                        trades_poll_seconds=60, trade_markets=1)

            async def script():
                await ws.wait_connections(1)
                await ws.push(frames[2])
                await ws.push(frames[3])
                await ws.push("{not json")
                while len(ctx.sink.topic("liquidations")) < 5:
                    await asyncio.sleep(0.02)
                await ws.drop()
                await ws.wait_connections(2, timeout_s=15)
                while ctx.health.gaps < 1:
                    await asyncio.sleep(0.02)

            await run_until_async(ctx, dydx.run, script)
            return ctx, ws.received

    ctx, received = asyncio.run(go())
    ids = [m["id"] for m in ctx.sink.topic("liquidations")]
    assert sorted(ids) == sorted(["0230b5a60000000200000005", "0230b5a60000000200000003",
                                  "0230b5a20000000200000004", "0230b5c10000000200000003",
                                  "8ee6d90d-272d-5edd-bf0f-2e4d6ae3d3b7"])  # each once
    subs = [(n, json.loads(t)) for n, t in received]
    assert [(n, s["channel"], s["id"]) for n, s in subs] == [(1, "v4_trades", "BTC-USD"),
                                                           (2, "v4_trades", "BTC-USD")]
    assert any("not JSON" in d["reason"] for d in ctx.sink.dead_letters)
    assert ctx.health.gaps == 1

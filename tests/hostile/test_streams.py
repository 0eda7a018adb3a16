"""Hostile frames and answers against the real sources (issue 12, items 4, 7, 9): each
streaming source runs against local stand-ins serving its recorded payloads while its
WebSocket gets the frames that used to kill it (deep nesting, a list where an id was
expected, a non-string topic, Infinity, a huge exponent, lone surrogates, a frame over the
size bound) and a few hundred mutated recorded frames; then one good frame. The source
must still be running, must have dead-lettered every bad frame (with the raw text), and
must publish the good one. Also: the REST client's bounds, the restart backoff, and a
bogus Etherscan head."""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from harness import hostile, recorded
from harness.local_servers import HttpServer, Reply, Seen, WsServer
from ingest import runner
from ingest.contract import MAX_FRAME_BYTES
from ingest.http import RestClient, retry_after_seconds
from ingest.settings import Budget, SourceSettings
from ingest.source import SourceContext
from ingest.sources import binance, bybit, dydx, okx
from tests.ingest.source_harness import CollectSink, run_until_async

RANDOM_FRAMES = 150


def _bad_frames(good: dict[str, Any], id_path: tuple[Any, ...], ts_path: tuple[Any, ...],
                name_path: tuple[Any, ...], topic_key: str | None) -> list[str]:
    """The frames of item 4, built from one good frame of the venue."""

    def with_(path: tuple[Any, ...], value: Any) -> str:
        doc = copy.deepcopy(good)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return hostile.dumps(doc).decode()

    frames = ["[" * 100_000 + "]" * 100_000,  # RecursionError before
              with_(id_path, ["BTCUSDT"]),  # a list where an id was expected: TypeError
              with_(ts_path, float("inf")),  # Infinity
              with_(ts_path, hostile.Decimal("1E+9999999")),  # past the decimal context
              with_(ts_path, hostile.Decimal("1E+600000")),  # the 37 s freeze
              with_(name_path, "a\ud800b"),  # a lone surrogate (orjson TypeError before)
              '{"a": "\\ud800"}', "not json at all", "[1, 2, 3]", "null", '"x"']
    if topic_key:
        frames.append(with_((topic_key,), 5))  # a non-string topic: AttributeError
    return frames


def _random_frames(component: str, name: str) -> list[str]:
    chain = next(c for c in hostile.chains() if c.component == component and c.name == name)
    rng = random.Random(f"streams:{component}")
    return [hostile.hostile_input(chain, rng).decode("ascii", "replace")
            for _ in range(RANDOM_FRAMES)]


async def _run_stream(module: Any, name: str, ctx: SourceContext, ws: WsServer,
                      frames: list[str], good: str, published: Callable[[], bool]) -> None:
    async def script() -> None:
        await ws.wait_connections(1, timeout_s=20)
        await asyncio.sleep(0.3)  # subscribed
        for frame in frames:
            await ws.push(frame)
        await ws.push("x" * (MAX_FRAME_BYTES + 1))  # over the bound: closed with 1009
        await ws.wait_connections(2, timeout_s=20)  # ...and reopened
        await asyncio.sleep(0.3)
        await ws.push(good)
        for _ in range(1000):
            if published():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{name}: the good frame after the hostile ones was not published")

    await run_until_async(ctx, module.run, script, timeout_s=120)


def _context(name: str, module: Any, http: HttpServer, ws_url: str, **options: Any
             ) -> SourceContext:
    settings = SourceSettings(rest_url=http.url, ws_url=ws_url, poll_seconds=3600,
                              budget=Budget(requests=1000, per_seconds=1))
    return SourceContext(name=name, settings=settings, sink=CollectSink(),
                         options=module.Options.model_validate(options))


def _check(ctx: SourceContext, known_bad: int) -> None:
    dead = ctx.sink.dead_letters  # type: ignore[attr-defined]
    assert len(dead) >= known_bad + 1  # every known-bad frame, and the oversized one
    assert ctx.health.dead_letters == len(dead)
    assert any("nested deeper than 64" in d["reason"] and d["raw"].startswith("[[[[")
               for d in dead)
    assert any(f"a frame over {MAX_FRAME_BYTES} bytes" in d["reason"] for d in dead)
    assert all(len(d["raw"]) <= 100_000 for d in dead)  # bounded raw text


def test_bybit_stream_survives_hostile_frames() -> None:
    page1 = recorded.text("bybit", "instruments_linear.json")
    page2 = recorded.text("bybit", "instruments_linear_page2.json")
    good = recorded.lines("bybit", "ws_all_liquidation.jsonl")[1]
    bad = _bad_frames(good, ("data", 0, "s"), ("data", 0, "T"), ("data", 0, "s"), "topic")
    sentinel = copy.deepcopy(good)
    sentinel["data"] = [{**good["data"][0], "v": "0.777"}]

    async def go() -> SourceContext:
        http = HttpServer().start()
        try:
            http.add("/v5/market/instruments-info",
                     lambda seen: Reply(body=page2 if seen.query.get("cursor") else page1))
            http.add("/v5/market/tickers", Reply(body=recorded.text("bybit",
                                                                   "tickers_linear.json")))
            http.add("/v5/market/account-ratio", Reply(body=recorded.text(
                "bybit", "account_ratio_btcusdt.json")))
            async with WsServer(on_message=lambda n, t: {"success": True, "op": "pong"}
                                if '"ping"' in t else None) as ws:
                ctx = _context("bybit", bybit, http, ws.url, ratio_poll_seconds=3600)
                await _run_stream(bybit, "bybit", ctx, ws,
                                  bad + _random_frames("bybit", "allLiquidation frame"),
                                  json.dumps(sentinel), lambda: any(
                                      m["qty"] == 0.777 for m in ctx.sink.topic("liquidations")))
                return ctx
        finally:
            http.stop()

    _check(asyncio.run(go()), len(bad))


def test_okx_stream_survives_hostile_frames() -> None:
    good = recorded.lines("okx", "ws_liquidation_orders.jsonl")[1]
    bad = _bad_frames(good, ("data", 0, "instId"), ("data", 0, "details", 0, "ts"),
                      ("data", 0, "instId"), None)
    sentinel = copy.deepcopy(good)
    sentinel["data"][0]["details"][0]["sz"] = "7.77"

    async def go() -> SourceContext:
        http = HttpServer().start()
        try:
            for path, name in (("/api/v5/public/instruments", "instruments_swap.json"),
                               ("/api/v5/public/mark-price", "mark_price_swap.json"),
                               ("/api/v5/public/funding-rate", "funding_rate_any.json"),
                               ("/api/v5/public/open-interest", "open_interest_swap.json"),
                               ("/api/v5/market/tickers", "tickers_swap.json"),
                               ("/api/v5/rubik/stat/trading-data/support-coin",
                                "support_coin.json")):
                http.add(path, Reply(body=recorded.text("okx", name)))
            async with WsServer(on_message=lambda n, t: "pong" if t == "ping" else None) as ws:
                ctx = _context("okx", okx, http, ws.url, ratio_poll_seconds=3600)
                await _run_stream(okx, "okx", ctx, ws,
                                  bad + _random_frames("okx", "liquidation-orders frame"),
                                  json.dumps(sentinel), lambda: any(
                                      "7.77" in m["id"] for m in ctx.sink.topic("liquidations")))
                return ctx
        finally:
            http.stop()

    _check(asyncio.run(go()), len(bad))


def test_binance_stream_survives_hostile_frames() -> None:
    good = recorded.lines("binance", "ws_force_order.jsonl")[0]
    bad = _bad_frames(good, ("o", "s"), ("o", "T"), ("o", "s"), None)
    sentinel = copy.deepcopy(good)
    sentinel["o"]["z"] = "0.777"

    async def go() -> SourceContext:
        http = HttpServer().start()
        try:
            for path, name in (("/fapi/v1/fundingInfo", "funding_info.json"),
                               ("/fapi/v1/exchangeInfo", "exchange_info.json"),
                               ("/fapi/v1/premiumIndex", "premium_index.json"),
                               ("/fapi/v1/ticker/24hr", "ticker_24hr.json"),
                               ("/fapi/v1/openInterest", "open_interest_btcusdt.json"),
                               ("/futures/data/globalLongShortAccountRatio",
                                "global_long_short_account_ratio_btcusdt.json")):
                http.add(path, Reply(body=recorded.text("binance", name)))
            async with WsServer() as ws:
                ctx = _context("binance", binance, http, ws.url + "/market/ws/!forceOrder@arr",
                               ratio_poll_seconds=3600, oi_poll_seconds=3600)
                await _run_stream(binance, "binance", ctx, ws,
                                  bad + _random_frames("binance", "forceOrder frame"),
                                  json.dumps(sentinel), lambda: any(
                                      m["qty"] == 0.777 for m in ctx.sink.topic("liquidations")))
                return ctx
        finally:
            http.stop()

    _check(asyncio.run(go()), len(bad))


def test_dydx_stream_survives_hostile_frames() -> None:
    good = recorded.load("dydx", "ws_trades_btc.json")[3]  # channel_data
    bad = _bad_frames(good, ("id",), ("contents", "trades", 0, "createdAt"),
                      ("contents", "trades", 0, "id"), "type")
    sentinel = copy.deepcopy(good)
    sentinel["contents"]["trades"][0]["id"] = "sentinel-777"

    async def go() -> SourceContext:
        http = HttpServer().start()
        try:
            http.add("/perpetualMarkets", Reply(body=recorded.text("dydx",
                                                                  "perpetual_markets.json")))
            http.add("/trades/perpetualMarket/BTC-USD", Reply(body='{"trades": []}'))
            async with WsServer() as ws:
                ctx = _context("dydx", dydx, http, ws.url, trades_poll_seconds=3600,
                               trade_markets=1, startup_lookback_seconds=10 ** 9)
                await _run_stream(dydx, "dydx", ctx, ws,
                                  bad + _random_frames("dydx", "v4_trades frame"),
                                  json.dumps(sentinel), lambda: any(
                                      m["id"] == "sentinel-777"
                                      for m in ctx.sink.topic("liquidations")))
                return ctx
        finally:
            http.stop()

    _check(asyncio.run(go()), len(bad))


# ---------------------------------------------------------------- REST bounds

@pytest.mark.parametrize(("header", "wait"), [
    ("inf", 3600.0), ("1e9", 3600.0), ("NaN", None), ("-5", 0.0), ("7", 7.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
    ("x" * 10_000, None)])
def test_retry_after_is_capped(header: str, wait: float | None) -> None:
    """Item 9: Retry-After: inf or 1e9 paused a client for good."""
    assert retry_after_seconds(header) == wait


def test_a_body_over_the_bound_is_refused_without_reading_it(http_server: HttpServer) -> None:
    http_server.add("/big", Reply(body=b"[" + b"1," * 600_000 + b"1]"))
    http_server.add("/gz", Reply(body=b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20,
                                 headers={"Content-Encoding": "gzip"}))

    async def go() -> list[str]:
        client = RestClient("x", http_server.url, max_body_bytes=1_000_000, backoff_s=0.01)
        reasons = []
        for path in ("/big", "/gz"):
            try:
                await client.get_json(path)
            except Exception as exc:
                reasons.append(f"{type(exc).__name__}: {exc}")
        await client.aclose()
        return reasons

    big, gz = asyncio.run(go())
    assert big.startswith("PayloadError") and "body over 1000000 bytes" in big
    assert gz.startswith("PayloadError") and "cannot be decoded" in gz


def test_restart_backoff_starts_over_after_a_healthy_run(monkeypatch) -> None:
    """Item 4: failures were never reset, so after ~8 crashes every restart waited 150-300 s
    even when the source had run fine for hours in between."""
    waits: list[float] = []
    runs = {"n": 0}
    clock = {"t": 0.0}

    async def run(ctx: SourceContext) -> None:
        runs["n"] += 1
        clock["t"] += 1000.0 if runs["n"] in (5, 9) else 1.0  # runs 5 and 9 were healthy
        if runs["n"] < 12:
            raise RuntimeError("venue answered nonsense")

    async def sleep(self: SourceContext, seconds: float) -> bool:
        waits.append(seconds)
        return True

    monkeypatch.setattr(runner.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(runner.random, "uniform", lambda a, b: b)
    monkeypatch.setattr(SourceContext, "sleep", sleep)
    ctx = SourceContext("x", SourceSettings(), CollectSink())
    asyncio.run(runner.supervise(ctx, run))
    assert waits == [2, 4, 8, 16, 2, 4, 8, 16, 2, 4, 8]


# ---------------------------------------------------------------- a bogus chain head

def test_a_bogus_etherscan_head_never_moves_the_cursor_past_the_chain(
        http_server: HttpServer, tmp_path, monkeypatch) -> None:
    """Item 7: eth_blockNumber says 0xffffffff once. The block it would read up to does not
    exist: the head is not trusted, no range past the real head is read or saved, the
    answer is dead-lettered; with the real head the source reads on."""
    from ingest.sources import etherscan as es
    from tests.ingest.source_harness import make_ctx, run_until

    real = int(json.loads(recorded.text("etherscan", "block_number.json"))["result"], 16)
    heads = [{"jsonrpc": "2.0", "id": 83, "result": "0xffffffff"},
             {"jsonrpc": "2.0", "id": 83, "result": hex(real)}]
    no_records = recorded.text("etherscan", "no_records.json")
    ranges: list[tuple[int, int]] = []

    def answer(seen: Seen) -> Reply:
        q = seen.query
        if q.get("action") == "eth_blockNumber":
            return Reply(body=heads.pop(0) if len(heads) > 1 else heads[0])
        if q.get("action") == "eth_getBlockByNumber":
            if int(q["tag"], 16) > real:
                return Reply(body=recorded.text("etherscan", "block_by_number_null.json"))
            block = recorded.load("etherscan", "block_by_number.json")
            block["result"]["number"] = q["tag"]
            return Reply(body=json.dumps(block, default=str))
        ranges.append((int(q["fromBlock"]), int(q["toBlock"])))
        return Reply(body=no_records)

    http_server.add(es.API_PATH, answer)
    ctx = make_ctx("etherscan", es, http_server.url, options={
        "state_file": str(tmp_path / "cursor.json"), "start_lookback_blocks": 5,
        "confirmations": 2}, poll_seconds=0.05, budget={"requests": 100, "per_seconds": 1})
    asyncio.run(run_until(ctx, es.run, lambda: len(ranges) >= 2))  # both tokens, real head
    assert max(hi for _, hi in ranges) == real - 2  # read up to the real head, not past it
    saved = json.loads((tmp_path / "cursor.json").read_text())
    assert all(b <= real - 1 for b in saved["next_block"].values())
    assert any("does not exist: the head is not trusted" in d["reason"]
               for d in ctx.sink.dead_letters)
    assert ctx.health.errors >= 1


def test_bybit_instrument_paging_stops_on_a_cursor_that_does_not_move(
        http_server: HttpServer) -> None:
    """Item 9: a nextPageCursor that repeats made 92,050 requests in 3 s."""
    page = json.loads(recorded.text("bybit", "instruments_linear.json"))
    page["result"]["nextPageCursor"] = "same"
    http_server.add("/v5/market/instruments-info", Reply(body=json.dumps(page)))
    ctx = _context("bybit", bybit, http_server, "ws://127.0.0.1:9")

    async def go() -> str:
        client = ctx.http()
        try:
            await bybit.load_instruments(ctx, client)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            await ctx.aclose()
        return "returned"

    outcome = asyncio.run(go())
    assert outcome.startswith("PayloadError") and "repeats" in outcome
    assert len(http_server.requests) == 2

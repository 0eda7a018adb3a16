"""WsStream against a local WebSocket server: subscribe, keepalive, drop, reconnect,
resubscribe, gap record, bad frames."""

from __future__ import annotations

import asyncio
import json
import logging

from harness.local_servers import WsServer
from harness.recorded import text as fixture_text
from ingest.health import SourceHealth
from ingest.ws import WsStream

LIQ = fixture_text("core", "bybit_liquidation.json")
SUB = {"op": "subscribe", "args": ["allLiquidation.ROSEUSDT"]}


def test_drop_reconnect_resubscribe_and_gap_record(caplog) -> None:
    caplog.set_level(logging.WARNING)
    health = SourceHealth("bybit")

    async def go():
        async with WsServer(on_message=lambda n, text: LIQ if "subscribe" in text else None
                            ) as server:
            stream = WsStream("bybit", server.url, [SUB], health=health, backoff_s=0.05,
                              ping_interval=None)
            got = []
            async for msg in stream:
                got.append(msg)
                if len(got) == 1:
                    await server.drop()  # network failure after the first push
                if len(got) == 2:
                    stream.stopping.set()
                    break
            return got, server.received, stream

    got, received, stream = asyncio.run(go())
    assert got[0]["data"][0]["S"] == "Sell" and got[1] == got[0]  # pushed again after resub
    # the subscription went out on both connections
    assert [(n, json.loads(t)) for n, t in received] == [(1, SUB), (2, SUB)]
    assert stream.connects == 2 and health.gaps == 1
    (gap,) = stream.gaps
    assert gap["source"] == "bybit" and gap["down_from_ms"] <= gap["down_to_ms"]
    assert "stream gap" in caplog.text and '"down_from_ms"' in caplog.text


def test_subscriptions_can_be_computed_per_connect() -> None:
    calls = []

    def subs():
        calls.append(1)
        return [{"op": "subscribe", "args": [f"tickers.{len(calls)}"]}]

    async def go():
        async with WsServer(on_message=lambda n, t: {"n": n}) as server:
            stream = WsStream("bybit", server.url, subs, backoff_s=0.05, ping_interval=None)
            async for msg in stream:
                if msg["n"] == 1:
                    await server.drop()
                else:
                    stream.stopping.set()
                    break
            return server.received

    received = asyncio.run(go())
    assert [json.loads(t)["args"] for _, t in received] == [["tickers.1"], ["tickers.2"]]


def test_app_ping_and_control_frames() -> None:
    """OKX: send "ping" text when idle, the server answers "pong", which is not data."""
    async def go():
        def on_message(n, text):
            return "pong" if text == "ping" else {"arg": {"channel": "liquidation-orders"}}

        async with WsServer(on_message=on_message) as server:
            stream = WsStream("okx", server.url, [{"op": "subscribe"}], ping_interval=None,
                              app_ping=lambda: "ping", app_ping_interval=0.05,
                              is_control=lambda raw: raw == "pong")
            got = []

            async def consume():
                async for msg in stream:
                    got.append(msg)

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.4)
            stream.stopping.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return got, server.received

    got, received = asyncio.run(go())
    pings = [t for _, t in received if t == "ping"]
    assert len(pings) >= 3
    assert got == [{"arg": {"channel": "liquidation-orders"}}]  # pongs never surface


def test_bad_frames_go_to_on_bad_and_the_stream_goes_on() -> None:
    bad = []
    health = SourceHealth("binance")

    async def go():
        frames = ["{not json", '{"e":"forceOrder"}']
        async with WsServer(on_connect=lambda n: frames) as server:
            stream = WsStream("binance", server.url, [], ping_interval=None, health=health,
                              on_bad=lambda raw, reason: bad.append((raw, reason)))
            async for msg in stream:
                stream.stopping.set()
                return msg

    assert asyncio.run(go()) == {"e": "forceOrder"}
    assert bad[0][0] == "{not json" and "not JSON" in bad[0][1]
    assert health.errors == 1


def test_server_down_at_start_then_up_gives_a_gap() -> None:
    """The first connect fails (nothing listens yet): the stream keeps trying, and the
    time it could not connect is a gap too."""
    health = SourceHealth("okx")

    async def go():
        import socket
        with socket.socket() as s:  # a port with nothing on it, for now
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        from websockets.asyncio.server import serve

        async def handler(conn):
            await conn.send('{"ok": true}')
            await asyncio.sleep(5)

        stream = WsStream("okx", f"ws://127.0.0.1:{port}", [], ping_interval=None,
                          health=health, backoff_s=0.05)

        async def start_later():
            await asyncio.sleep(0.3)
            return await serve(handler, "127.0.0.1", port)

        starter = asyncio.create_task(start_later())
        async for msg in stream:
            stream.stopping.set()
            server = await starter
            server.close()
            return msg, stream

    msg, stream = asyncio.run(go())
    assert msg == {"ok": True} and health.gaps == 1 and health.errors >= 1
    assert stream.gaps[0]["down_to_ms"] - stream.gaps[0]["down_from_ms"] >= 200

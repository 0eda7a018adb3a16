"""Hyperliquid: unit conversions on the documented payload, and the source against a local
server replaying it (normal path, 429 + Retry-After, 5xx, malformed body, extra fields)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from harness.local_servers import HttpServer, Reply
from ingest.contract import PayloadError
from ingest.sources import hyperliquid as hl
from tests.ingest.source_harness import collect_history, fixture, make_ctx, run_until, seen

TS = 1795183200000
META = json.loads(fixture("hyperliquid", "meta_and_asset_ctxs.json"))


def by_symbol(emits: list, topic: str) -> dict:
    return {m["symbol"]: m for t, m in emits if t == topic}


def all_emits(payload=META) -> list:
    out = []
    for asset, ctx in hl.split_meta_and_asset_ctxs(payload):
        out.extend(hl.parse_asset_ctx(asset, ctx, TS))
    return out


def test_btc_funding_is_hourly_and_oi_in_coins_priced_at_mark():
    emits = all_emits()
    f = by_symbol(emits, "funding_rates")["BTC"]
    assert f["funding_rate"] == 0.0000125 and f["interval_hours"] == 1
    assert f["mark_price"] == 94987.5 and f["base"] == "BTC" and f["ts"] == TS
    oi = by_symbol(emits, "open_interest")["BTC"]
    assert oi["oi_base"] == 28314.80928
    assert oi["oi_usd"] == float(Decimal("28314.80928") * Decimal("94987.5"))
    p = by_symbol(emits, "prices")["BTC"]
    assert p["price"] == 94987.5 and p["volume_24h_usd"] == 1169046929.40651
    assert p["exchange"] == "hyperliquid"


def test_k_prefixed_asset_is_1000_coins_per_unit():
    emits = all_emits()
    p = by_symbol(emits, "prices")["kPEPE"]
    assert p["base"] == "PEPE"
    assert p["price"] == float(Decimal("0.011846") / 1000)  # per PEPE, not per 1000
    oi = by_symbol(emits, "open_interest")["kPEPE"]
    assert oi["oi_base"] == 4031215874 * 1000  # PEPE coins
    assert oi["oi_usd"] == float(Decimal(4031215874) * Decimal("0.011846"))  # units * unit px
    f = by_symbol(emits, "funding_rates")["kPEPE"]
    assert f["funding_rate"] == 0.0000236402 and f["mark_price"] == p["price"]


def test_delisted_asset_is_skipped_unless_asked():
    assert "MATIC" not in by_symbol(all_emits(), "prices")
    asset, ctx = hl.split_meta_and_asset_ctxs(META)[3]
    assert asset["name"] == "MATIC"
    assert {t for t, _ in hl.parse_asset_ctx(asset, ctx, TS, include_delisted=True)} == {
        "prices", "funding_rates", "open_interest"}


def test_misaligned_answer_is_rejected_as_a_whole():
    bad = [META[0], META[1][:-1]]
    with pytest.raises(PayloadError, match="index-aligned"):
        hl.split_meta_and_asset_ctxs(bad)
    with pytest.raises(PayloadError, match=r"\[meta, assetCtxs\]"):
        hl.split_meta_and_asset_ctxs({"universe": []})


def test_bad_number_names_the_field_and_asset():
    asset, ctx = hl.split_meta_and_asset_ctxs(META)[0]
    with pytest.raises(PayloadError, match=r"BTC.*(markPx|price)"):
        hl.parse_asset_ctx(asset, {**ctx, "markPx": "n/a"}, TS)


def test_funding_history_rows(http_server):
    rows = json.loads(fixture("hyperliquid", "funding_history_btc.json"))
    msgs = hl.parse_funding_history(rows, "BTC")
    assert [m["ts"] for m in msgs] == [1795179600015, 1795183200002, 1795186800031]
    assert msgs[2]["funding_rate"] == -0.0000061502 and msgs[2]["interval_hours"] == 1
    assert msgs[0]["mark_price"] is None


# ---------------------------------------------------------------- against a local server

def run_source(server: HttpServer, *replies: Reply, polls: int = 1, **options):
    server.add("/info", *replies, method="POST")
    ctx = make_ctx("hyperliquid", hl, server.url, options=options, poll_seconds=0.05,
                   budget={"requests": 100, "per_seconds": 1})
    ok = lambda: len(seen(server, "/info")) >= polls  # noqa: E731
    asyncio.run(run_until(ctx, hl.run, ok))
    return ctx


def test_source_publishes_every_perpetual_from_one_call(http_server):
    ctx = run_source(http_server, Reply(200, fixture("hyperliquid", "meta_and_asset_ctxs.json")))
    req = seen(http_server, "/info")[0]
    assert json.loads(req.body) == {"type": "metaAndAssetCtxs"}
    sink = ctx.sink
    first_poll = sink.messages[:12]
    assert sorted(m["symbol"] for t, m in first_poll if t == "prices") == [
        "BTC", "ETH", "SOL", "kPEPE"]
    assert {m["base"] for _, m in first_poll} == {"BTC", "ETH", "SOL", "PEPE"}
    assert not sink.dead_letters


def test_429_with_retry_after_is_waited_out(http_server):
    ctx = run_source(http_server,
                     Reply(429, {"error": "rate limited"}, {"Retry-After": "1"}),
                     Reply(200, fixture("hyperliquid", "meta_and_asset_ctxs.json")),
                     polls=2)
    assert ctx.sink.topic("prices"), "the retried request published"
    client_throttled = ctx.health.errors
    assert client_throttled >= 1


def test_5xx_is_retried(http_server):
    ctx = run_source(http_server, Reply(502, "bad gateway"),
                     Reply(200, fixture("hyperliquid", "meta_and_asset_ctxs.json")),
                     polls=2)
    assert len(ctx.sink.topic("open_interest")) >= 4
    assert ctx.health.errors >= 1


def test_malformed_body_goes_to_dead_letter_with_source_and_reason(http_server):
    ctx = run_source(http_server, Reply(200, b"<html>upstream error</html>"))
    assert not ctx.sink.messages
    dl = ctx.sink.dead_letters[0]
    assert dl["source"] == "hyperliquid" and "not JSON" in dl["reason"]
    assert dl["raw"].startswith("<html>") and "/info" in dl["where"]


def test_one_bad_asset_is_dead_lettered_alone(http_server):
    payload = json.loads(fixture("hyperliquid", "meta_and_asset_ctxs.json"))
    payload[1][1]["openInterest"] = "-5"
    ctx = run_source(http_server, Reply(200, payload))
    assert [d["reason"] for d in ctx.sink.dead_letters if "ETH" in d["reason"]]
    assert "ETH" not in {m["symbol"] for m in ctx.sink.topic("open_interest")}
    assert "BTC" in {m["symbol"] for m in ctx.sink.topic("open_interest")}


def test_unexpected_extra_fields_are_tolerated(http_server):
    payload = json.loads(fixture("hyperliquid", "meta_and_asset_ctxs.json"))
    payload[0]["newTopLevel"] = {"x": 1}
    payload[0]["universe"][0]["growthMode"] = "enabled"
    payload[1][0]["impactPxs2"] = ["1", "2"]
    ctx = run_source(http_server, Reply(200, payload))
    assert not ctx.sink.dead_letters
    assert by_symbol(ctx.sink.messages, "funding_rates")["BTC"]["funding_rate"] == 0.0000125


def test_history_pages_funding_of_the_asked_coins(http_server):
    http_server.add("/info", Reply(200, fixture("hyperliquid", "funding_history_btc.json")),
                    method="POST")
    ctx = make_ctx("hyperliquid", hl, http_server.url, symbols=["BTC"])
    got = collect_history(ctx, hl, 1795179600000, 1795186800000)
    assert [(t, m["ts"]) for t, m in got] == [("funding_rates", 1795179600015),
                                               ("funding_rates", 1795183200002)]  # end exclusive
    body = json.loads(seen(http_server, "/info")[0].body)
    assert body == {"type": "fundingHistory", "coin": "BTC", "startTime": 1795179600000,
                    "endTime": 1795186799999}

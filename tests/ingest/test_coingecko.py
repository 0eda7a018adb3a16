"""CoinGecko: exact prices from JSON numbers, event time in seconds, the demo key in its
header (never in a URL or a log line), and the source against a local server."""

from __future__ import annotations

import asyncio
import json
import logging

from harness.local_servers import HttpServer, Reply
from ingest.contract import loads
from ingest.sources import coingecko as cg
from tests.ingest.source_harness import collect_history, fixture, make_ctx, run_until, seen

IDS = {"BTC": "bitcoin", "ETH": "ethereum", "PEPE": "pepe", "SOL": "solana"}
KEY = "CG-test-demo-key-4f9a1c"


def test_prices_are_exact_and_stamped_with_last_updated_at():
    payload = loads(fixture("coingecko", "simple_price.json"))  # as the HTTP client decodes
    msgs, rejects = cg.parse_simple_price(payload, IDS)
    assert not rejects
    btc = {m["base"]: m for m in msgs}["BTC"]
    assert btc["price"] == 94997.1234567 and btc["symbol"] == "bitcoin"
    assert btc["ts"] == 1795183201000  # last_updated_at is epoch seconds
    assert btc["volume_24h_usd"] == 41270066112.818115
    assert {m["base"]: m for m in msgs}["PEPE"]["price"] == 0.0000118412
    assert all(m["exchange"] == "coingecko" for m in msgs)


def test_unknown_id_and_null_price_are_rejects_not_gaps():
    payload = loads(fixture("coingecko", "simple_price.json"))
    payload["solana"]["usd"] = None
    msgs, rejects = cg.parse_simple_price(payload, {**IDS, "XYZ": "no-such-coin"})
    assert {m["base"] for m in msgs} == {"BTC", "ETH", "PEPE"}
    reasons = [r for r, _ in rejects]
    assert any("no-such-coin" in r and "missing" in r for r in reasons)
    assert any("solana" in r and "price" in r for r in reasons)


def test_market_chart_range_points():
    payload = loads(fixture("coingecko", "market_chart_range_bitcoin.json"))
    msgs = cg.parse_market_chart(payload, "bitcoin", "BTC")
    assert [m["ts"] for m in msgs] == [1795179600000, 1795183200000, 1795186800000]
    assert msgs[1]["price"] == 94997.1234567 and msgs[1]["volume_24h_usd"] == 41270066112.818115


def test_key_header_by_plan():
    assert cg.key_headers("demo", KEY) == {"x-cg-demo-api-key": KEY}
    assert cg.key_headers("pro", KEY) == {"x-cg-pro-api-key": KEY}
    assert cg.key_headers("demo", None) == {}


# ---------------------------------------------------------------- against a local server

def run_source(server: HttpServer, *replies: Reply, env_key: str | None = None,
               monkeypatch=None, until=None):
    server.add("/simple/price", *replies)
    if env_key and monkeypatch:
        monkeypatch.setenv("LCM_TEST_CG_KEY", env_key)
    ctx = make_ctx("coingecko", cg, server.url, options={"ids": IDS}, poll_seconds=0.05,
                   budget={"requests": 100, "per_seconds": 1}, api_key_env="LCM_TEST_CG_KEY")
    until = until or (lambda: len(seen(server, "/simple/price")) >= 1)
    asyncio.run(run_until(ctx, cg.run, until))
    return ctx


def test_source_sends_the_demo_key_in_its_header_only_and_never_logs_it(http_server, monkeypatch,
                                                                         caplog):
    caplog.set_level(logging.DEBUG)
    ctx = run_source(http_server, Reply(500, "oops"), Reply(429, "{}", {"Retry-After": "1"}),
                     Reply(200, fixture("coingecko", "simple_price.json")),
                     env_key=KEY, monkeypatch=monkeypatch,
                     until=lambda: len(seen(http_server, "/simple/price")) >= 3)
    req = seen(http_server, "/simple/price")[-1]
    assert req.headers["x-cg-demo-api-key"] == KEY
    assert KEY not in json.dumps(req.query)
    assert req.query["ids"] == "bitcoin,ethereum,pepe,solana"
    assert req.query["vs_currencies"] == "usd" and req.query["include_last_updated_at"] == "true"
    assert len(ctx.sink.topic("prices")) >= 4
    assert KEY not in caplog.text
    assert ctx.health.errors >= 2  # the 500 and the 429


def test_without_key_no_auth_header(http_server, monkeypatch):
    monkeypatch.delenv("LCM_TEST_CG_KEY", raising=False)
    run_source(http_server, Reply(200, fixture("coingecko", "simple_price.json")))
    assert not any(h.startswith("x-cg-") for h in seen(http_server, "/simple/price")[0].headers)


def test_malformed_body_and_bad_coin_go_to_dead_letter(http_server):
    payload = json.loads(fixture("coingecko", "simple_price.json"))
    payload["ethereum"]["last_updated_at"] = "yesterday"
    payload["bitcoin"]["usd_1h_change"] = 0.1  # an extra field: tolerated
    ctx = run_source(http_server, Reply(200, b"Throttled"), Reply(200, payload),
                     until=lambda: len(seen(http_server, "/simple/price")) >= 2)
    dls = ctx.sink.dead_letters
    assert dls[0]["source"] == "coingecko" and "not JSON" in dls[0]["reason"]
    assert dls[0]["raw"] == "Throttled"
    assert any("ethereum" in d["reason"] and "last_updated_at" in d["reason"] for d in dls)
    assert {m["base"] for m in ctx.sink.topic("prices")} == {"BTC", "PEPE", "SOL"}


def test_history_reads_market_chart_range(http_server):
    http_server.add("/coins/bitcoin/market_chart/range",
                    Reply(200, fixture("coingecko", "market_chart_range_bitcoin.json")))
    ctx = make_ctx("coingecko", cg, http_server.url, options={"ids": {"BTC": "bitcoin"}})
    got = collect_history(ctx, cg, 1795179600000, 1795186800000)
    assert [(m["base"], m["ts"]) for _, m in got] == [("BTC", 1795179600000),
                                                       ("BTC", 1795183200000)]
    q = seen(http_server, "/coins/bitcoin/market_chart/range")[0].query
    assert (q["from"], q["to"], q["vs_currency"]) == ("1795179600", "1795186800", "usd")

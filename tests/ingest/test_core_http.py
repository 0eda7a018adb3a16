"""RestClient against a local HTTP server: budget, throttling, retries, bad bodies."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from decimal import Decimal

import pytest

from harness.local_servers import HttpServer, Reply
from harness.recorded import text as fixture_text
from ingest.contract import PayloadError
from ingest.health import SourceHealth
from ingest.http import HttpError, RestClient, TokenBucket, retry_after_seconds
from ingest.settings import Budget

TICKERS = fixture_text("core", "bybit_tickers.json")


def run(coro):
    return asyncio.run(coro)


def client(server: HttpServer, **kw) -> RestClient:
    kw.setdefault("backoff_s", 0.01)
    return RestClient("bybit", server.url, kw.pop("budget", None), **kw)


def test_normal_json_with_exact_numbers(http_server: HttpServer) -> None:
    http_server.add("/v5/market/tickers", Reply(200, TICKERS))

    async def go():
        async with client(http_server) as c:
            return await c.get_json("/v5/market/tickers", {"category": "linear"})

    doc = run(go())
    row = doc["result"]["list"][0]
    assert row["fundingRate"] == "-0.00000874" and doc["time"] == 1756460000000
    assert http_server.requests[0].query == {"category": "linear"}


def test_json_numbers_become_decimals(http_server: HttpServer) -> None:
    http_server.add("/simple/price", Reply(200, '{"bitcoin":{"usd":67187.33}}'))

    async def go():
        async with client(http_server) as c:
            return await c.get_json("/simple/price")

    assert run(go()) == {"bitcoin": {"usd": Decimal("67187.33")}}


def test_post_json(http_server: HttpServer) -> None:
    http_server.add("/info", Reply(200, "[1, 2]"), method="POST")

    async def go():
        async with client(http_server) as c:
            return await c.post_json("/info", {"type": "metaAndAssetCtxs"})

    assert run(go()) == [1, 2]
    assert http_server.requests[0].body == b'{"type":"metaAndAssetCtxs"}'


def test_429_retry_after_is_honoured(http_server: HttpServer) -> None:
    http_server.add("/x", Reply(429, "slow down", {"Retry-After": "1"}), Reply(200, "{}"))
    health = SourceHealth("bybit")

    async def go():
        async with client(http_server, budget=Budget(requests=100, per_seconds=1),
                          health=health) as c:
            return await c.get_json("/x")

    assert run(go()) == {}
    first, second = http_server.requests
    assert second.at - first.at >= 1.0  # waited the full Retry-After
    assert health.errors == 1


def test_429_retry_after_as_http_date(http_server: HttpServer) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    http_server.add("/x", Reply(429, "", {"Retry-After": when}), Reply(200, "{}"))

    async def go():
        async with client(http_server) as c:  # no bucket: the request itself waits
            return await c.get_json("/x")

    assert run(go()) == {}
    first, second = http_server.requests
    assert second.at - first.at >= 1.0  # an HTTP date has 1 s resolution


def test_418_ban_pauses_every_request_of_the_client(http_server: HttpServer) -> None:
    """Binance 418: the IP is banned, so no request of this client may go out until the
    ban ends, not only the one that got the answer."""
    http_server.add("/a", Reply(418, '{"code":-1003}', {"Retry-After": "1"}), Reply(200, "1"))
    http_server.add("/b", Reply(200, "2", delay_s=0))

    async def go():
        async with client(http_server, budget=Budget(requests=100, per_seconds=1)) as c:
            first = asyncio.create_task(c.get_json("/a"))
            await asyncio.sleep(0.2)  # /a got its 418 by now
            t0 = time.monotonic()
            b = await c.get_json("/b")
            waited = time.monotonic() - t0
            return await first, b, waited, c.throttled

    a, b, waited, throttled = run(go())
    assert (a, b, throttled) == (1, 2, 1)
    assert waited >= 0.7  # /b waited out the rest of the ban
    ban_at = http_server.requests[0].at
    assert all(r.at - ban_at >= 1.0 for r in http_server.requests[1:])


def test_throttle_without_retry_after_uses_the_default_window(http_server: HttpServer) -> None:
    http_server.add("/x", Reply(403, "access too frequent"), Reply(200, "{}"))

    async def go():
        async with client(http_server, throttle_defaults={403: 0.5}) as c:
            return await c.get_json("/x")

    assert run(go()) == {}
    first, second = http_server.requests
    assert second.at - first.at >= 0.5


def test_5xx_then_success(http_server: HttpServer) -> None:
    http_server.add("/x", Reply(503, "busy"), Reply(502, "bad gw"), Reply(200, '{"ok":1}'))
    health = SourceHealth("okx")

    async def go():
        async with client(http_server, health=health) as c:
            return await c.get_json("/x")

    assert run(go()) == {"ok": 1}
    assert len(http_server.requests) == 3 and health.errors == 2


def test_5xx_forever_gives_up_with_a_clear_error(http_server: HttpServer) -> None:
    http_server.add("/x", Reply(500, "boom"))

    async def go():
        async with client(http_server, max_attempts=3) as c:
            return await c.get_json("/x")

    with pytest.raises(HttpError, match=r"bybit: GET /x: gave up after 3 attempts: HTTP 500"):
        run(go())
    assert len(http_server.requests) == 3


def test_connection_refused_is_retried_then_reported() -> None:
    async def go():
        async with RestClient("dydx", "http://127.0.0.1:9", max_attempts=2,
                              backoff_s=0.01) as c:
            return await c.get_json("/v4/perpetualMarkets")

    with pytest.raises(HttpError, match="gave up after 2 attempts: ConnectError"):
        run(go())


def test_malformed_body_raises_payload_error_with_raw_text(http_server: HttpServer) -> None:
    http_server.add("/x", Reply(200, '{"retCode":0,"result":{"list":[{"symbol":"BTC'))
    health = SourceHealth("bybit")

    async def go():
        async with client(http_server, health=health) as c:
            return await c.get_json("/x")

    with pytest.raises(PayloadError, match="not JSON") as err:
        run(go())
    assert err.value.raw.startswith('{"retCode":0') and err.value.where == "GET /x"
    assert health.errors == 1 and len(http_server.requests) == 1  # not retried


def test_451_is_not_retried(http_server: HttpServer) -> None:
    http_server.add("/fapi/v1/premiumIndex", Reply(451, '{"code":0,"msg":"restricted"}'))

    async def go():
        async with client(http_server) as c:
            return await c.get_json("/fapi/v1/premiumIndex")

    with pytest.raises(HttpError, match=r"HTTP 451 \(restricted location") as err:
        run(go())
    assert err.value.status == 451 and len(http_server.requests) == 1


def test_secrets_in_query_are_never_logged(http_server: HttpServer, caplog) -> None:
    http_server.add("/v2/api", Reply(500, "x"))
    caplog.set_level(logging.DEBUG)

    async def go():
        async with client(http_server, max_attempts=2) as c:
            return await c.get_json("/v2/api", {"module": "account", "apikey": "S3CR3T"})

    with pytest.raises(HttpError) as err:
        run(go())
    assert http_server.requests[0].query["apikey"] == "S3CR3T"  # it was sent...
    assert "S3CR3T" not in str(err.value) and "S3CR3T" not in caplog.text  # ...never shown
    assert "'apikey': '***'" in str(err.value)


def test_token_bucket_keeps_the_budget() -> None:
    async def go():
        bucket = TokenBucket(5, 1.0)
        t0 = time.monotonic()
        for _ in range(10):
            await bucket.acquire()
        return time.monotonic() - t0

    assert run(go()) >= 0.95  # 5 at once, 5 more at 5/s


def test_budget_spreads_requests(http_server: HttpServer) -> None:
    http_server.add("/x", Reply(200, "1"))

    async def go():
        async with client(http_server, budget=Budget(requests=2, per_seconds=0.5)) as c:
            await asyncio.gather(*(c.get_json("/x") for _ in range(6)))

    run(go())
    times = [r.at for r in http_server.requests]
    assert times[-1] - times[0] >= 0.9  # 2 at once, then 4 at 4/s


@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5), (None, None), ("soon", None)])
def test_retry_after_parsing(value, expected) -> None:
    assert retry_after_seconds(value) == expected

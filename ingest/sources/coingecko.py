"""CoinGecko spot prices of the tracked assets: one `GET /simple/price` per poll for every
CoinGecko id in `options.ids` (base -> CoinGecko id; ids, not tickers, because tickers
collide: dozens of coins call themselves "btc").

- Key: optional. A Demo key (free account) is sent in the `x-cg-demo-api-key` header
  (CoinGecko docs "Authentication (Demo API)"); with `plan: pro` a Pro key goes in
  `x-cg-pro-api-key` to the pro-api host. Headers, never the query string, so the key
  cannot appear in a logged URL. The key comes from the environment variable named by
  `api_key_env` (config/ingest.yaml), never from the file.
- Limits: Demo about 30 calls/min and 10,000 calls/month; keyless calls share a lower,
  traffic-dependent limit (about 5-15/min, frequent 429). /simple/price is cached about
  60 s on the free plans, so polling faster than that only burns credits.
- Units: prices are JSON numbers (parsed as exact Decimals by the client); the event time
  is `last_updated_at` (epoch seconds) of each coin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from ingest.contract import PayloadError, array, dec, price_msg, req, ts_ms
from ingest.http import RestClient
from ingest.settings import SourceOptions
from ingest.source import SourceContext
from lcm.topics import PRICES

EXCHANGE = "coingecko"
PRICE_PATH = "/simple/price"
RANGE_PATH = "/coins/{id}/market_chart/range"
KEY_HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
# market_chart/range returns hourly points for ranges of 1..90 days (daily beyond), so
# history is fetched in windows of at most this long.
HISTORY_WINDOW_MS = 90 * 24 * 3600 * 1000

# The assets the monitor tracks by default (the perpetuals with most open interest).
DEFAULT_IDS = {
    "BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana", "XRP": "ripple",
    "DOGE": "dogecoin", "BNB": "binancecoin", "ADA": "cardano", "AVAX": "avalanche-2",
    "LINK": "chainlink", "SUI": "sui", "TON": "the-open-network", "LTC": "litecoin",
    "DOT": "polkadot", "TRX": "tron", "PEPE": "pepe", "HYPE": "hyperliquid",
    "ARB": "arbitrum", "OP": "optimism", "NEAR": "near", "APT": "aptos",
}


class Options(SourceOptions):
    ids: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_IDS))
    vs_currency: Literal["usd"] = "usd"
    plan: Literal["demo", "pro"] = "demo"


def key_headers(plan: str, key: str | None) -> dict[str, str]:
    """The auth header for the plan, or none without a key (keyless public access)."""
    return {KEY_HEADERS[plan]: key} if key else {}


# ---------------------------------------------------------------- pure parsing

def parse_simple_price(payload: Any, ids: dict[str, str], vs: str = "usd",
                       where: str = PRICE_PATH
                       ) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    """(price messages, [(reason, raw item)]) from a /simple/price answer. A coin whose
    entry is malformed is returned as a reject for the dead-letter topic; a coin that is
    absent from the answer (unknown id) is a reject too, never a silent gap."""
    if not isinstance(payload, dict):
        raise PayloadError(f"{where}: expected an object keyed by CoinGecko id, got "
                           f"{type(payload).__name__}")
    msgs, rejects = [], []
    for base, cg_id in ids.items():
        item_where = f"{where} {cg_id}"
        if cg_id not in payload:
            rejects.append((f"{item_where}: id missing from the answer (unknown to CoinGecko?)",
                            ""))
            continue
        item = payload[cg_id]
        try:
            msgs.append(price_msg(
                EXCHANGE, cg_id, base,
                ts_ms(req(item, "last_updated_at", item_where), "last_updated_at", item_where,
                      "s"),
                req(item, vs, item_where), volume_24h_usd=item.get(f"{vs}_24h_vol"),
                where=item_where))
        except PayloadError as exc:
            rejects.append((exc.reason, {cg_id: item}))
    return msgs, rejects


def parse_market_chart(payload: Any, cg_id: str, base: str,
                       where: str = "market_chart/range") -> list[dict[str, Any]]:
    """Price messages from market_chart/range `prices` [[ms, price]] with the 24 h volume
    of the same timestamp from `total_volumes`."""
    prices = array(req(payload, "prices", where), "prices", where)
    volumes = array(payload.get("total_volumes") or [], "total_volumes", where)
    volume_at = {}
    for point in volumes:
        if isinstance(point, list) and len(point) == 2 and isinstance(point[0], int | Decimal):
            volume_at[point[0]] = point[1]
    out = []
    for point in prices:
        if not isinstance(point, list) or len(point) != 2:
            raise PayloadError(f"{where}: prices: expected [ms, price], got {point!r}")
        ts = ts_ms(point[0], "prices[ms]", where)
        out.append(price_msg(EXCHANGE, cg_id, base, ts, dec(point[1], "price", where),
                             volume_24h_usd=volume_at.get(point[0]), where=where))
    return out


# ---------------------------------------------------------------- I/O

def _client(ctx: SourceContext, options: Options) -> RestClient:
    return ctx.http(headers=key_headers(options.plan, ctx.settings.api_key()))


async def poll_once(ctx: SourceContext, client: RestClient, options: Options) -> int:
    """One /simple/price call for every id; prices published, a coin that cannot be read
    (or is missing) dead-lettered alone. Returns how many prices were published."""
    params = {"ids": ",".join(sorted(set(options.ids.values()))),
              "vs_currencies": options.vs_currency, "include_24hr_vol": "true",
              "include_last_updated_at": "true", "precision": "full"}
    payload = await ctx.fetch(client.get_json(PRICE_PATH, params), PRICE_PATH)
    if payload is None:
        return 0
    parsed = ctx.parse(PRICE_PATH, payload, parse_simple_price, payload, options.ids,
                       options.vs_currency)
    if parsed is None:
        return 0
    msgs, rejects = parsed
    for reason, raw in rejects:
        ctx.dead_letter(reason, raw, PRICE_PATH)
    return ctx.publish_all((PRICES, msg) for msg in msgs)


async def run(ctx: SourceContext) -> None:
    options = ctx.options_as(Options)
    client = _client(ctx, options)
    await ctx.run_tasks([ctx.repeat(ctx.settings.poll_seconds, poll_once, ctx, client,
                                    options)])


async def history(ctx: SourceContext, start_ms: int, end_ms: int
                  ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Hourly prices in [start_ms, end_ms) per tracked coin from market_chart/range in
    windows of at most 90 days (the Demo plan serves the last 365 days only)."""
    options = ctx.options_as(Options)
    client = _client(ctx, options)
    for base, cg_id in options.ids.items():
        path = RANGE_PATH.format(id=cg_id)
        lo = start_ms
        while lo < end_ms and not ctx.stopping.is_set():
            hi = min(end_ms, lo + HISTORY_WINDOW_MS)
            payload = await client.get_json(path, {"vs_currency": options.vs_currency,
                                                   "from": lo // 1000, "to": hi // 1000,
                                                   "precision": "full"})
            for msg in ctx.parse(path, payload, parse_market_chart, payload, cg_id, base,
                                 path) or ():
                if lo <= msg["ts"] < hi:
                    yield PRICES, msg
            lo = hi

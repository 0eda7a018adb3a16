"""Hyperliquid perpetuals: hourly funding, open interest and mark price of every perpetual
from one `POST /info {"type": "metaAndAssetCtxs"}` per poll.

Units (Hyperliquid docs, Info endpoint > Perpetuals): `funding` is the current HOURLY rate
(interval_hours=1), `openInterest` is in coins of the asset as listed, `markPx` per listed
unit. The k-prefixed assets (kPEPE, kBONK, kSHIB...) are 1000-coin units: their price is
per 1000 coins and their open interest counts 1000-coin units, so price and oi_base are
scaled by the multiplier from contract.split_base and oi_usd = openInterest * markPx.

Budget (docs "Rate limits"): 1200 weight per minute per IP; metaAndAssetCtxs and
fundingHistory weigh 20 (fundingHistory +1 per 20 rows returned). One client bucket
counts weight: every call passes its `cost`.

Not covered: liquidations. Hyperliquid has no public all-market liquidation stream (the
trades channel has no liquidation flag; userFills carry one only for subscribed
addresses), so Hyperliquid liquidations are absent from the liquidations topic; its open
interest drop is the signal that remains (docs/sources.md).

The response has no timestamp: a snapshot is stamped with the time it was received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field

from ingest.contract import (
    PayloadError,
    array,
    funding_msg,
    req,
    split_base,
    ts_ms,
)
from ingest.http import RestClient
from ingest.settings import SourceOptions
from ingest.source import Out, SourceContext
from ingest.sources.common import market_snapshot
from lcm.topics import FUNDING_RATES

EXCHANGE = "hyperliquid"
INFO_PATH = "/info"
FUNDING_INTERVAL_HOURS = 1
INFO_WEIGHT = 20  # metaAndAssetCtxs, meta, fundingHistory (docs "Rate limits")
HISTORY_PAGE_ROWS = 500  # fundingHistory returns at most this many rows per call

class Options(SourceOptions):
    dex: str = Field(default="", description='perp dex: "" is the main Hyperliquid dex')
    include_delisted: bool = False


# ---------------------------------------------------------------- pure parsing

def split_meta_and_asset_ctxs(payload: Any, where: str = INFO_PATH
                              ) -> list[tuple[dict[str, Any], Any]]:
    """[(universe entry, asset context)] from the `[meta, assetCtxs]` answer; the two
    lists are index-aligned, so a length mismatch means the answer cannot be trusted."""
    if not isinstance(payload, list) or len(payload) != 2:
        raise PayloadError(f"{where}: expected [meta, assetCtxs], got "
                           f"{type(payload).__name__} of length "
                           f"{len(payload) if isinstance(payload, list) else '-'}")
    meta, ctxs = payload
    universe = array(req(meta, "universe", f"{where} meta"), "universe", where)
    array(ctxs, "assetCtxs", where)
    if len(universe) != len(ctxs):
        raise PayloadError(f"{where}: {len(universe)} universe entries but {len(ctxs)} "
                           "asset contexts (they must be index-aligned)")
    return list(zip(universe, ctxs, strict=True))


def parse_asset_ctx(asset: dict[str, Any], asset_ctx: Any, ts: int, *,
                    include_delisted: bool = False, where: str = INFO_PATH) -> Out:
    """price, funding and open interest of one perpetual; [] for a delisted one."""
    name = req(asset, "name", where)
    where = f"{where} {name}"
    if asset.get("isDelisted") and not include_delisted:
        return []
    base, mult = split_base(name)
    mark = req(asset_ctx, "markPx", where)
    return market_snapshot(EXCHANGE, name, base, ts, mult, where, price=mark,
                           volume_24h_usd=asset_ctx.get("dayNtlVlm"),
                           funding_rate=req(asset_ctx, "funding", where),
                           interval_hours=FUNDING_INTERVAL_HOURS,
                           oi_base=req(asset_ctx, "openInterest", where))


def parse_funding_history(rows: Any, coin: str, where: str = "fundingHistory") -> list[dict]:
    """funding_rates messages from fundingHistory rows (hourly rates, ts = settlement)."""
    array(rows, "fundingHistory", where)
    base, mult = split_base(coin)
    out = []
    for row in rows:
        ts = ts_ms(req(row, "time", where), "time", where)
        out.append(funding_msg(EXCHANGE, coin, base, ts, req(row, "fundingRate", where),
                               FUNDING_INTERVAL_HOURS, multiplier=mult, where=where))
    return out


# ---------------------------------------------------------------- I/O

async def poll_once(ctx: SourceContext, client: RestClient, options: Options) -> int:
    """One metaAndAssetCtxs call; every perpetual's messages published. Returns the count.
    A bad asset entry is dead-lettered alone; a bad answer as a whole is dead-lettered."""
    body: dict[str, Any] = {"type": "metaAndAssetCtxs"}
    if options.dex:
        body["dex"] = options.dex
    payload = await ctx.fetch(client.post_json(INFO_PATH, body, cost=INFO_WEIGHT), INFO_PATH)
    if payload is None:
        return 0
    ts = ctx.clock_ms()
    pairs = ctx.parse(INFO_PATH, payload, split_meta_and_asset_ctxs, payload)
    sent = 0
    wanted = set(ctx.settings.symbols)
    for asset, asset_ctx in pairs or ():
        name = asset.get("name") if isinstance(asset, dict) else None
        if wanted and isinstance(name, str) and name not in wanted:  # others: dead-lettered
            continue
        sent += ctx.publish_all(ctx.parse(INFO_PATH, [asset, asset_ctx], parse_asset_ctx,
                                          asset, asset_ctx, ts,
                                          include_delisted=options.include_delisted))
    return sent


async def run(ctx: SourceContext) -> None:
    options = ctx.options_as(Options)
    client = ctx.http()
    await ctx.run_tasks([ctx.repeat(ctx.settings.poll_seconds, poll_once, ctx, client,
                                    options)])


async def history(ctx: SourceContext, start_ms: int, end_ms: int
                  ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Hourly funding in [start_ms, end_ms) of each symbol (settings.symbols, or every
    listed perpetual) from fundingHistory, paged forward by time (<= 500 rows an answer)."""
    options = ctx.options_as(Options)
    client = ctx.http()
    coins = list(ctx.settings.symbols)
    if not coins:
        body: dict[str, Any] = {"type": "meta"}
        if options.dex:
            body["dex"] = options.dex
        meta = await client.post_json(INFO_PATH, body, cost=INFO_WEIGHT)
        coins = [a["name"] for a in req(meta, "universe", "meta")
                 if options.include_delisted or not a.get("isDelisted")]
    for coin in coins:
        since = start_ms
        while since < end_ms and not ctx.stopping.is_set():
            body = {"type": "fundingHistory", "coin": coin, "startTime": since,
                    "endTime": end_ms - 1}
            rows = await client.post_json(INFO_PATH, body,
                                          cost=INFO_WEIGHT + HISTORY_PAGE_ROWS // 20)
            msgs = ctx.parse(f"fundingHistory {coin}", rows, parse_funding_history, rows,
                             coin, f"fundingHistory {coin}")
            if msgs is None:
                break
            for msg in msgs:
                if start_ms <= msg["ts"] < end_ms:
                    yield FUNDING_RATES, msg
            newest = max(m["ts"] for m in msgs) + 1
            if len(msgs) < HISTORY_PAGE_ROWS or newest <= since:  # the end, or no progress
                break
            since = newest

"""dYdX v4 indexer: funding, open interest and oracle price of every perpetual market, and
the LIQUIDATED trades of each market (the chain's complete public liquidation record).

- `GET /v4/perpetualMarkets`: `nextFundingRate` is the predicted rate of the next HOURLY
  payment (interval_hours=1); `openInterest` is in base units (coins); `oraclePrice`
  prices it (dYdX marks positions to the oracle). The answer has no timestamp: a snapshot
  is stamped with the time it was received.
- `GET /v4/trades/perpetualMarket/{ticker}` lists TAKER fills, newest first. A fill of
  type LIQUIDATED is "the taker side of the fill where the subaccount was liquidated"
  (indexer postgres fill-types.ts), so the trade's `side` is the liquidated account's
  order side: SELL closes a long -> side 'long' (contract.liquidated_side_from_order).
  The trade id is the dedup key; event time is `createdAt`.
- Live path: the indexer WebSocket channel `v4_trades` (one subscription per market,
  sent again on every reconnect) brings liquidations within about a second. The REST
  trades poll keeps running as the gap filler (stream outages, markets added later):
  trade ids already published are remembered, so each liquidation is published once.
- Budget: the indexer allows 100 GET requests per 10 s per IP by default (comlink
  config RATE_LIMIT_GET_POINTS / _DURATION_SECONDS); config/ingest.yaml asks for less.
  Trades are polled market by market in order of 24-hour trade count, one full round at
  most every `trades_poll_seconds`; pages are followed back to the last trade seen, so a
  busy market loses nothing while it stays within `trades_max_pages` pages per round.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from ingest.contract import (
    MAX_ROWS,
    PayloadError,
    array,
    funding_msg,
    int_of,
    liquidated_side_from_order,
    liquidation_msg,
    req,
    short,
    split_base,
    text_of,
    ts_ms,
)
from ingest.http import RestClient
from ingest.settings import SourceOptions
from ingest.source import Out, SourceContext
from ingest.sources.common import market_snapshot
from lcm.topics import FUNDING_RATES, LIQUIDATIONS

EXCHANGE = "dydx"
MARKETS_PATH = "/perpetualMarkets"
TRADES_PATH = "/trades/perpetualMarket/{ticker}"
FUNDING_PATH = "/historicalFunding/{ticker}"
FUNDING_INTERVAL_HOURS = 1
LIQUIDATION_TYPES = frozenset({"LIQUIDATED"})
WS_CHANNEL = "v4_trades"
PUBLISHED_IDS_KEPT = 100_000  # trade ids remembered to publish each liquidation once


class Options(SourceOptions):
    trades_poll_seconds: float = Field(default=30, gt=0, le=3600)
    trades_limit: int = Field(default=100, ge=1, le=1000)  # indexer API_LIMIT_V4 = 1000
    trades_max_pages: int = Field(default=5, ge=1, le=100)
    trade_markets: int = Field(default=0, ge=0)  # busiest N markets; 0 = every active one
    include_deleveraged: bool = False  # DELEVERAGED fills are forced closes too
    startup_lookback_seconds: float = Field(default=300, ge=0)
    active_only: bool = True
    history_limit: int = Field(default=1000, ge=1, le=1000)
    ws_trades: bool = True  # v4_trades stream (needs ws_url) for the polled markets
    ws_batched: bool = True  # ask for batched channel data (fewer, larger frames)


# ---------------------------------------------------------------- pure parsing

def base_of(ticker: str, where: str = "") -> tuple[str, Any]:
    """BTC-USD -> (BTC, 1): dYdX tickers are <base>-USD."""
    if not isinstance(ticker, str) or "-" not in ticker:
        raise PayloadError(f"{where}: ticker: expected <BASE>-USD, got {ticker!r}")
    return split_base(ticker.rsplit("-", 1)[0])


def market_entries(payload: Any, where: str = MARKETS_PATH) -> list[tuple[str, Any]]:
    """[(ticker, market object)] of the perpetualMarkets answer."""
    markets = req(payload, "markets", where)
    if isinstance(markets, dict) and len(markets) > MAX_ROWS:
        raise PayloadError(f"{where}: markets: {len(markets)} entries, over {MAX_ROWS}")
    if not isinstance(markets, dict):
        raise PayloadError(f"{where}: markets: expected an object keyed by ticker")
    return list(markets.items())


def parse_market(ticker: str, market: Any, ts: int, *, active_only: bool = True,
                 where: str = MARKETS_PATH) -> Out:
    """price, funding and open interest of one market ([] when not ACTIVE and
    active_only: a market in final settlement or paused has no live funding)."""
    where = f"{where} {ticker}"
    if active_only and req(market, "status", where) != "ACTIVE":
        return []
    base, mult = base_of(ticker, where)
    oracle = req(market, "oraclePrice", where)
    return market_snapshot(EXCHANGE, ticker, base, ts, mult, where, price=oracle,
                           volume_24h_usd=market.get("volume24H"),
                           funding_rate=req(market, "nextFundingRate", where),
                           interval_hours=FUNDING_INTERVAL_HOURS,
                           oi_base=req(market, "openInterest", where))


def trade_rows(payload: Any, where: str) -> list[dict[str, Any]]:
    """The `trades` list of a trades answer, each row checked for the cursor's fields."""
    rows = array(req(payload, "trades", where), "trades", where)
    for row in rows:
        trade_id = req(row, "id", where)
        if isinstance(trade_id, bool) or not isinstance(trade_id, str | int):
            raise PayloadError(f"{where}: id: expected a string, got {short(trade_id)}")
        text_of(str(trade_id), "id", where, max_chars=100)
        trade_height(row, where)
    return rows


def trade_height(row: dict[str, Any], where: str = "") -> int:
    return int_of(req(row, "createdAtHeight", where), "createdAtHeight", where, low=0)


def parse_liquidation(ticker: str, row: dict[str, Any], *, include_deleveraged: bool = False,
                      where: str = "") -> dict[str, Any] | None:
    """A liquidations message for a LIQUIDATED trade (DELEVERAGED too if asked), None for
    any other trade. Side: the taker is the liquidated account, so SELL = a long closed."""
    kind = row.get("type") if isinstance(row, dict) else None
    if kind is None and isinstance(row, dict) and isinstance(row.get("liquidation"), bool):
        kind = "LIQUIDATED" if row["liquidation"] else "TRADE"  # v4_trades 1.x messages
    if kind is None:
        raise PayloadError(f"{where}: type: missing (and no liquidation flag)")
    if not isinstance(kind, str):
        raise PayloadError(f"{where}: type: expected a string, got {short(kind)}")
    if kind not in LIQUIDATION_TYPES and not (include_deleveraged and kind == "DELEVERAGED"):
        return None
    where = f"{where} trade {row.get('id')}"
    base, mult = base_of(ticker, where)
    return liquidation_msg(
        EXCHANGE, ticker, base, ts_ms(req(row, "createdAt", where), "createdAt", where, "iso"),
        liquidated_side_from_order(req(row, "side", where), where),
        req(row, "price", where), req(row, "size", where),
        dedup_key=str(req(row, "id", where)), multiplier=mult, where=where)


def parse_historical_funding(ticker: str, payload: Any, where: str) -> list[dict[str, Any]]:
    """funding_rates from historicalFunding rows (hourly rate, settlement price, time)."""
    rows = array(req(payload, "historicalFunding", where), "historicalFunding", where)
    base, mult = base_of(ticker, where)
    return [funding_msg(EXCHANGE, ticker, base,
                        ts_ms(req(r, "effectiveAt", where), "effectiveAt", where, "iso"),
                        req(r, "rate", where), FUNDING_INTERVAL_HOURS,
                        mark_price=r.get("price"), multiplier=mult, where=where)
            for r in rows]


def ws_trade_batches(msg: Any, where: str = "v4_trades") -> list[tuple[str, list[Any]]]:
    """[(ticker, trade rows)] of one v4_trades frame: the `subscribed` snapshot,
    `channel_data` ({trades: [...]}) and `channel_batch_data` ([{trades: [...]}, ...]);
    [] for other frames (connected, unsubscribed...). An `error` frame raises."""
    kind = req(msg, "type", where)
    if kind == "error":
        raise PayloadError(f"{where}: error frame: {msg.get('message')}")
    if kind not in ("subscribed", "channel_data", "channel_batch_data") or \
            msg.get("channel") != "v4_trades":
        return []
    ticker = req(msg, "id", where)
    contents = req(msg, "contents", where)
    parts = contents if kind == "channel_batch_data" else [contents]
    ticker = text_of(ticker, "id", where, max_chars=64)
    out = []
    for part in array(parts, "contents", f"{where} {ticker}"):
        rows = array(req(part, "trades", f"{where} {ticker}"), "trades", f"{where} {ticker}")
        out.append((ticker, rows))
    return out


@dataclass
class TradeCursor:
    """The newest block height seen in a market and the trade ids at that height: a trade
    is new when it is above that height, or at it with an id not seen yet."""

    height: int = -1
    ids: set[str] = field(default_factory=set)

    def is_new(self, row: dict[str, Any]) -> bool:
        h = trade_height(row)
        return h > self.height or (h == self.height and str(row["id"]) not in self.ids)

    def advance(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            h = trade_height(row)
            if h > self.height:
                self.height, self.ids = h, {str(row["id"])}
            elif h == self.height:
                self.ids.add(str(row["id"]))


def new_trades(cursor: TradeCursor, pages: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The trades of `pages` (newest first, possibly overlapping) not seen before, once."""
    out, ids = [], set()
    for rows in pages:
        for row in rows:
            key = str(row["id"])
            if key not in ids and cursor.is_new(row):
                ids.add(key)
                out.append(row)
    return out


# ---------------------------------------------------------------- I/O

class DydxSource:
    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.options = ctx.options_as(Options)
        self.client: RestClient = ctx.http()
        self.cursors: dict[str, TradeCursor] = {}
        self.tickers: list[str] = []  # busiest first, from the last markets snapshot
        self.started_ms = ctx.clock_ms()
        # Trade ids already published (REST polls and the stream see the same trades).
        self.published: OrderedDict[str, None] = OrderedDict()

    async def poll_markets(self) -> int:
        payload = await self.ctx.fetch(self.client.get_json(MARKETS_PATH), MARKETS_PATH)
        if payload is None:
            return 0
        ts = self.ctx.clock_ms()
        entries = self.ctx.parse(MARKETS_PATH, payload, market_entries, payload)
        if entries is None:
            return 0
        wanted = set(self.ctx.settings.symbols)
        sent, active = 0, []
        for ticker, market in entries:
            if wanted and ticker not in wanted:
                continue
            emits = self.ctx.parse(MARKETS_PATH, {ticker: market}, parse_market, ticker, market,
                                   ts, active_only=self.options.active_only)
            if emits:
                active.append((_trades_24h(market), ticker))
            sent += self.ctx.publish_all(emits)
        active.sort(key=lambda t: (-t[0], t[1]))
        limit = self.options.trade_markets or len(active)
        self.tickers = [t for _, t in active[:limit]]
        return sent

    async def poll_trades(self, ticker: str) -> int:
        """New trades of one market since the last poll; liquidations published."""
        path = TRADES_PATH.format(ticker=ticker)
        cursor = self.cursors.setdefault(ticker, TradeCursor())
        first = cursor.height < 0
        pages: list[list[dict[str, Any]]] = []
        before: int | None = None
        for _ in range(self.options.trades_max_pages):
            params: dict[str, Any] = {"limit": self.options.trades_limit}
            if before is not None:
                params["createdBeforeOrAtHeight"] = before
            payload = await self.ctx.fetch(self.client.get_json(path, params), path)
            if payload is None:
                return 0
            rows = self.ctx.parse(path, payload, trade_rows, payload, path)
            if rows is None:
                return 0
            pages.append(rows)
            # Stop at the end of history, at a page reaching what was seen, or on the first
            # poll (older trades are history, not news).
            if first or len(rows) < self.options.trades_limit or not all(
                    cursor.is_new(r) for r in rows):
                break
            before = min(trade_height(r) for r in rows)
        fresh = new_trades(cursor, pages)
        cursor.advance(fresh)
        return self.publish_liquidations(ticker, fresh, path, skip_old=first)

    def publish_liquidations(self, ticker: str, rows: list[Any], where: str,
                             skip_old: bool = True) -> int:
        """Publish the liquidations among `rows` not published before (by trade id);
        skip_old drops those older than the start-up lookback (history, not news)."""
        oldest_ms = self.started_ms - int(self.options.startup_lookback_seconds * 1000)
        sent = 0
        for row in rows:
            msg = self.ctx.parse(where, row, parse_liquidation, ticker, row, where=where,
                                 include_deleveraged=self.options.include_deleveraged)
            if msg is None or (skip_old and msg["ts"] < oldest_ms) or msg["id"] in self.published:
                continue
            self.published[msg["id"]] = None
            if len(self.published) > PUBLISHED_IDS_KEPT:
                self.published.popitem(last=False)
            self.ctx.publish(LIQUIDATIONS, msg)
            sent += 1
        return sent

    def ws_subscriptions(self) -> list[dict[str, Any]]:
        """Sent on every (re)connect: the markets chosen by the last markets poll."""
        return [{"type": "subscribe", "channel": "v4_trades", "id": t,
                 "batched": self.options.ws_batched} for t in self.tickers]

    def on_ws_message(self, msg: Any) -> int:
        try:
            batches = ws_trade_batches(msg)
        except PayloadError as exc:
            self.ctx.health.error(exc.reason)
            self.ctx.dead_letter(exc.reason, msg, WS_CHANNEL)
            return 0
        return sum(self.publish_liquidations(t, rows, f"{WS_CHANNEL} {t}")
                   for t, rows in batches)

    async def ws_loop(self) -> None:
        """Liquidations as they happen from v4_trades; the REST polls fill any gap."""
        async for msg in self.ctx.ws(subscribe=self.ws_subscriptions):
            self.ctx.parse(WS_CHANNEL, msg, self.on_ws_message, msg)

    async def trades_round(self) -> None:
        """One round of trades polls over the chosen markets, busiest first."""
        for ticker in list(self.tickers):
            if self.ctx.stopping.is_set():
                return
            await self.poll_trades(ticker)


def _trades_24h(market: Any) -> int:
    try:
        return int_of(market.get("trades24H") or 0, "trades24H")
    except (PayloadError, AttributeError):
        return 0


async def run(ctx: SourceContext) -> None:
    """Markets every poll_seconds (the market list first), a round of trades polls every
    trades_poll_seconds, and the v4_trades stream for the chosen markets."""
    source = DydxSource(ctx)
    await source.poll_markets()  # the market list first
    opts = source.options
    polls = [ctx.repeat(ctx.settings.poll_seconds, source.poll_markets),
             ctx.repeat(opts.trades_poll_seconds, source.trades_round)]
    streams = [source.ws_loop()] if opts.ws_trades and ctx.settings.ws_url else []
    await ctx.run_tasks(polls, streams)


async def history(ctx: SourceContext, start_ms: int, end_ms: int
                  ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Hourly funding per market in [start_ms, end_ms) from historicalFunding (newest
    first, paged back with effectiveBeforeOrAt), yielded oldest first per market."""
    options = ctx.options_as(Options)
    client = ctx.http()
    tickers = list(ctx.settings.symbols)
    if not tickers:
        payload = await client.get_json(MARKETS_PATH)
        tickers = [t for t, m in market_entries(payload)
                   if not options.active_only or m.get("status") == "ACTIVE"]
    for ticker in tickers:
        path = FUNDING_PATH.format(ticker=ticker)
        before, rows = end_ms - 1, []  # [start_ms, end_ms): end exclusive
        while before >= start_ms and not ctx.stopping.is_set():
            payload = await client.get_json(path, {"limit": options.history_limit,
                                                   "effectiveBeforeOrAt": _iso(before)})
            page = ctx.parse(path, payload, parse_historical_funding, ticker, payload, path)
            if page is None:
                break
            rows.extend(m for m in page if start_ms <= m["ts"] < end_ms)
            if len(page) < options.history_limit:
                break
            before = min(m["ts"] for m in page) - 1
        for msg in sorted(rows, key=lambda m: m["ts"]):
            yield FUNDING_RATES, msg


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

"""Bybit v5 linear perpetuals: tickers (price, funding, open interest), account long/short
ratio, and every liquidation from the WebSocket `allLiquidation.<symbol>` topics.

Units and conventions (checked against Bybit's v5 docs; harness/recorded/bybit/ORIGIN.md):
- every number is a JSON string, parsed exactly (contract.dec);
- `fundingRate` is per funding interval; the interval is the instrument's `fundingInterval`
  in MINUTES (instruments-info), not a constant 8 h;
- `openInterest` is in the contract's base coin (1000PEPE units for 1000PEPEUSDT; the
  contract builders scale by the multiplier), `openInterestValue` in USD;
- allLiquidation `S` is the liquidated POSITION's side: "Buy" = a long was liquidated
  (the opposite of Binance's order side); `v` base-coin size, `p` bankruptcy price; the
  stream is complete (not sampled), pushed in 500 ms batches;
- event time: the response's `time` for snapshots, `timestamp`/`T` for rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from ingest.contract import (
    PayloadError,
    array,
    dec,
    funding_msg,
    int_of,
    liquidated_side_from_position,
    liquidation_msg,
    long_short_msg,
    lookup,
    oi_msg,
    opt_dec,
    price_msg,
    req,
    req_str,
    short,
    split_base,
    ts_ms,
)
from ingest.http import RestClient
from ingest.settings import SourceOptions
from ingest.source import Out, SourceContext
from ingest.sources.common import load_when_reachable, reload_into, split_data
from lcm.deadletter import raw_text
from lcm.topics import FUNDING_RATES, LIQUIDATIONS, LONG_SHORT_RATIO, OPEN_INTEREST, PRICES

VENUE = "bybit"
MAX_INSTRUMENT_PAGES = 50  # 1000 a page: Bybit lists about 600 linear perpetuals
RatioPeriod = Literal["5min", "15min", "30min", "1h", "4h", "1d"]
PERIOD_MS = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": 3_600_000,
             "4h": 14_400_000, "1d": 86_400_000}
KLINE_INTERVAL = {"5min": "5", "15min": "15", "30min": "30", "1h": "60", "4h": "240",
                  "1d": "D"}


class Options(SourceOptions):
    ratio_period: RatioPeriod = "5min"  # account-ratio bucket polled live
    ratio_poll_seconds: float = Field(default=300, gt=0, le=86_400)
    instruments_refresh_seconds: float = Field(default=3600, gt=0, le=86_400)
    instruments_retry_seconds: float = Field(default=300, gt=0, le=86_400)  # list unreadable
    # Topics per WebSocket connection and per subscribe request: 10 args per request is
    # Bybit's documented spot limit (kept for linear to be safe); a few hundred topics per
    # connection keeps each resubscribe small (and under the request-size limit) and
    # stays far below the per-IP connection limits (500 new per 5 min, 1000 open).
    ws_topics_per_connection: int = Field(default=200, ge=1, le=2000)
    ws_args_per_subscribe: int = Field(default=10, ge=1, le=10)
    ws_ping_seconds: float = Field(default=20, gt=0, le=60)  # Bybit asks for ~20 s
    # --once skips the streams (one pass of the polls); > 0 listens this long after it.
    once_stream_seconds: float = Field(default=0, ge=0, le=600)
    history_period: RatioPeriod = "1h"  # bucket of backfilled OI / ratio / mark price
    history_limit: int = Field(default=200, ge=1, le=200)  # rows per history request


@dataclass(frozen=True)
class Instrument:
    symbol: str
    base: str
    multiplier: Decimal  # coins of `base` per unit of the venue's base coin (1000PEPE: 1000)
    interval_hours: Decimal  # funding interval


# ---------------------------------------------------------------- pure parsers

def result_of(payload: Any, where: str) -> dict[str, Any]:
    """The `result` of a v5 REST envelope; retCode != 0 is the venue refusing the call."""
    code = req(payload, "retCode", where)
    if code != 0:
        raise PayloadError(f"{where}: retCode {code}: {payload.get('retMsg')!r}")
    result = req(payload, "result", where)
    if not isinstance(result, dict):
        raise PayloadError(f"{where}: result: expected an object")
    return result


def rows_of(payload: Any, where: str) -> list[Any]:
    return array(req(result_of(payload, where), "list", where), "result.list", where)


def parse_instrument(row: Any, where: str) -> Instrument | None:
    """One instruments-info row -> Instrument, or None for what we do not ingest (dated
    futures, pre-listing, settling/closed contracts)."""
    if req(row, "contractType", where) != "LinearPerpetual" or row.get("status") != "Trading":
        return None
    symbol = req_str(row, "symbol", where)
    base, mult = split_base(req(row, "baseCoin", where))
    minutes = dec(req(row, "fundingInterval", where), "fundingInterval", where)
    if minutes <= 0:
        raise PayloadError(f"{where}: fundingInterval: {minutes} minutes for a perpetual")
    return Instrument(symbol, base, mult, minutes / 60)


def parse_ticker(row: Any, inst: Instrument, ts: int, where: str) -> Out:
    """One linear ticker -> price, funding and open-interest messages (ts: response time)."""
    symbol = inst.symbol
    kw = {"multiplier": inst.multiplier, "where": where}
    out: Out = [(PRICES, price_msg(VENUE, symbol, inst.base, ts,
                                     req(row, "lastPrice", where),
                                     volume_24h_usd=opt_dec(row.get("turnover24h"),
                                                            "turnover24h", where), **kw))]
    mark = req(row, "markPrice", where)
    rate = opt_dec(req(row, "fundingRate", where), "fundingRate", where)
    if rate is not None:
        out.append((FUNDING_RATES, funding_msg(VENUE, symbol, inst.base, ts, rate,
                                                 inst.interval_hours, mark_price=mark, **kw)))
    out.append((OPEN_INTEREST, oi_msg(VENUE, symbol, inst.base, ts,
                                        oi_base=req(row, "openInterest", where),
                                        oi_usd=req(row, "openInterestValue", where), **kw)))
    return out


def parse_account_ratio(row: Any, inst: Instrument, where: str) -> Out:
    """account-ratio row: buyRatio / sellRatio = shares of ACCOUNTS net long / short."""
    ts = ts_ms(req(row, "timestamp", where), "timestamp", where)
    return [(LONG_SHORT_RATIO, long_short_msg(
        VENUE, inst.symbol, inst.base, ts, "accounts",
        long_share=req(row, "buyRatio", where), short_share=req(row, "sellRatio", where),
        where=where))]


def parse_all_liquidation(msg: Any, instruments: dict[str, Instrument], where: str) -> Out:
    """One `allLiquidation.<symbol>` push (a batch) -> liquidation messages.
    S = position side (Buy: a long was liquidated); v = size in the base coin; p =
    bankruptcy price. Bybit gives no id: the dedup key is symbol, time, side, size, price."""
    data = array(req(msg, "data", where), "data", where)
    out: Out = []
    for row in data:
        symbol = req_str(row, "s", where)
        inst = instruments.get(symbol)
        if inst is None:
            raise PayloadError(f"{where}: s: {symbol!r} is not a known linear perpetual")
        ts = ts_ms(req(row, "T", where), "T", where)
        side = liquidated_side_from_position(req(row, "S", where), where)
        qty, px = req(row, "v", where), req(row, "p", where)
        key = f"{VENUE}:{symbol}:{ts}:{row['S']}:{qty}:{px}"
        out.append((LIQUIDATIONS, liquidation_msg(
            VENUE, symbol, inst.base, ts, side, px, qty, dedup_key=key,
            multiplier=inst.multiplier, where=where)))
    return out


def parse_funding_history(row: Any, inst: Instrument, mark: Decimal | None, where: str) -> Out:
    ts = ts_ms(req(row, "fundingRateTimestamp", where), "fundingRateTimestamp", where)
    return [(FUNDING_RATES, funding_msg(
        VENUE, inst.symbol, inst.base, ts, req(row, "fundingRate", where),
        inst.interval_hours, mark_price=mark, multiplier=inst.multiplier, where=where))]


def parse_open_interest_history(row: Any, inst: Instrument, mark: Decimal | None,
                                where: str) -> Out:
    """open-interest history rows have coins only: USD from the mark price of that bucket
    (a row without one is skipped by the caller rather than given a made-up value)."""
    ts = ts_ms(req(row, "timestamp", where), "timestamp", where)
    if mark is None:
        raise PayloadError(f"{where}: no mark price at {ts} to value the open interest")
    return [(OPEN_INTEREST, oi_msg(VENUE, inst.symbol, inst.base, ts,
                                     oi_base=req(row, "openInterest", where), price=mark,
                                     multiplier=inst.multiplier, where=where))]


def parse_mark_klines(payload: Any, where: str) -> dict[int, Decimal]:
    """mark-price-kline rows [start, open, high, low, close] -> {start ms: close}."""
    out: dict[int, Decimal] = {}
    for row in rows_of(payload, where):
        if not isinstance(row, list) or len(row) < 5:
            raise PayloadError(f"{where}: kline row: expected [start, o, h, l, c], got {row!r}")
        out[ts_ms(row[0], "start", where)] = dec(row[4], "close", where)
    return out


def mark_at(marks: dict[int, Decimal], ts: int, period_ms: int) -> Decimal | None:
    """Mark price at ts: the close of the last kline that ended at or before ts (no
    look-ahead into a backtest), else of the kline containing ts."""
    start = ts - ts % period_ms
    return marks.get(start - period_ms, marks.get(start))


def subscribe_batches(symbols: list[str], per_connection: int,
                      per_request: int) -> list[list[dict[str, Any]]]:
    """allLiquidation topics split into connections, each a list of subscribe requests."""
    topics = [f"allLiquidation.{s}" for s in symbols]
    conns = [topics[i:i + per_connection] for i in range(0, len(topics), per_connection)]
    return [[{"op": "subscribe", "args": c[i:i + per_request]}
             for i in range(0, len(c), per_request)] for c in conns]


def is_reply(msg: Any) -> bool:
    """Subscribe acknowledgements and pongs: {"success": ..., "op": ...}."""
    return isinstance(msg, dict) and "op" in msg and "topic" not in msg


# ---------------------------------------------------------------- I/O

async def load_instruments(ctx: SourceContext, http: RestClient) -> dict[str, Instrument]:
    """Every linear perpetual (paged with nextPageCursor), or those in settings.symbols.
    Raises HttpError / PayloadError when the list cannot be read (nothing to run on)."""
    wanted = set(ctx.settings.symbols)
    out: dict[str, Instrument] = {}
    cursor, seen = "", {""}
    path = "/v5/market/instruments-info"
    for _ in range(MAX_INSTRUMENT_PAGES):
        params: dict[str, Any] = {"category": "linear", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        payload = await http.get_json(path, params)
        result = result_of(payload, path)
        for row in rows_of(payload, path):
            inst = ctx.parse(path, row, parse_instrument, row, path)
            if inst is not None and (not wanted or inst.symbol in wanted):
                out[inst.symbol] = inst
        cursor = result.get("nextPageCursor") or ""
        if not cursor:
            return out
        if not isinstance(cursor, str) or cursor in seen:  # a cursor that does not move
            raise PayloadError(f"{path}: nextPageCursor {short(cursor)} repeats or is not a "
                               "string: the instrument list cannot be paged", raw=raw_text(
                                   payload), where=path)
        seen.add(cursor)
    raise PayloadError(f"{path}: more than {MAX_INSTRUMENT_PAGES} pages of instruments",
                       where=path)


async def poll_tickers(ctx: SourceContext, http: RestClient,
                       instruments: dict[str, Instrument]) -> None:
    path = "/v5/market/tickers"
    payload = await ctx.fetch(http.get_json(path, {"category": "linear"}), path)
    if payload is None:
        return
    try:
        rows = rows_of(payload, path)
        ts = ts_ms(req(payload, "time", path), "time", path)
    except PayloadError as exc:
        ctx.dead_letter(exc.reason, payload, path)
        return
    for row in rows:
        if not isinstance(row, dict):
            ctx.dead_letter(f"{path}: ticker row is not an object", row, path)
            continue
        inst = lookup(instruments, row.get("symbol"))
        if inst is not None:  # dated futures and unwanted symbols are skipped
            ctx.publish_all(ctx.parse(path, row, parse_ticker, row, inst, ts, path))


async def poll_ratios(ctx: SourceContext, http: RestClient,
                      instruments: dict[str, Instrument], opts: Options) -> None:
    """Newest account-ratio bucket of every perpetual (one request each, paced by the
    client's budget)."""
    path = "/v5/market/account-ratio"
    for inst in list(instruments.values()):
        if ctx.stopping.is_set():
            return
        params = {"category": "linear", "symbol": inst.symbol, "period": opts.ratio_period,
                  "limit": 1}
        payload = await ctx.fetch(http.get_json(path, params), path)
        rows = None if payload is None else ctx.parse(path, payload, rows_of, payload, path)
        for row in (rows or [])[:1]:  # newest first
            ctx.publish_all(ctx.parse(path, row, parse_account_ratio, row, inst, path))


def on_frame(ctx: SourceContext, msg: Any, instruments: dict[str, Instrument],
             where: str) -> None:
    """One allLiquidation push: each row parsed alone (a bad row costs only itself);
    replies and pongs are skipped, anything else is dead-lettered."""
    if is_reply(msg):
        if msg.get("success") is False:
            # Bybit refuses the whole request (up to 10 topics) for one bad topic, e.g.
            # a symbol delisted since the last instrument load; the next reload (its
            # symbol set changed) resubscribes without it.
            ctx.error(f"subscribe refused: {short(msg.get('ret_msg'), 300)}")
        return
    topic = msg.get("topic") if isinstance(msg, dict) else None
    if isinstance(topic, str) and topic.startswith("allLiquidation."):
        here = f"{where} {short(topic, 80)}"
        for one in split_data(msg):
            ctx.publish_all(ctx.parse(here, one, parse_all_liquidation, one, instruments,
                                      here))
    else:
        ctx.dead_letter(f"{where}: unexpected message", msg, where)


async def stream_liquidations(ctx: SourceContext, url: str, subscribe: list[dict[str, Any]],
                              instruments: dict[str, Instrument], opts: Options) -> None:
    stream = ctx.ws(url, subscribe, app_ping=lambda: {"op": "ping"},
                    app_ping_interval=opts.ws_ping_seconds)
    where = f"ws {url}"
    async for msg in stream:
        ctx.parse(where, msg, on_frame, ctx, msg, instruments, where)
        if ctx.stopping.is_set():
            return


async def run(ctx: SourceContext) -> None:
    """Poll tickers every poll_seconds and the account ratio every ratio_poll_seconds,
    stream allLiquidation for every perpetual over as many connections as needed, and
    reload the instrument list every instruments_refresh_seconds: a listing or delisting
    restarts the streams with the new topic set, a changed funding interval is picked up
    in place."""
    opts = ctx.options_as(Options)
    http = ctx.http()
    instruments = await load_when_reachable(
        ctx, lambda: load_instruments(ctx, http), opts.instruments_retry_seconds)
    restart = True
    while restart and not ctx.stopping.is_set():
        batches = subscribe_batches(sorted(instruments), opts.ws_topics_per_connection,
                                    opts.ws_args_per_subscribe)
        ctx.log.info("bybit: %d linear perpetuals on %d WebSocket connections",
                     len(instruments), len(batches))
        polls = [ctx.repeat(ctx.settings.poll_seconds, poll_tickers, ctx, http, instruments),
                 ctx.repeat(opts.ratio_poll_seconds, poll_ratios, ctx, http, instruments,
                            opts)]
        streams = [stream_liquidations(ctx, ctx.settings.ws_url, b, instruments, opts)
                   for b in batches]
        restart = await ctx.run_tasks(polls, streams, refresh=(
            opts.instruments_refresh_seconds,
            lambda: reload_into(ctx, lambda: load_instruments(ctx, http), instruments)),
            once_stream_seconds=opts.once_stream_seconds)


# ---------------------------------------------------------------- backfill

async def history(ctx: SourceContext, start_ms: int, end_ms: int
                  ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Funding (full history), open interest and account ratio (history_period buckets)
    per perpetual, oldest first per symbol and kind; open interest and funding are valued
    with the mark-price kline of their bucket."""
    opts = ctx.options_as(Options)
    http = ctx.http()
    instruments = await load_instruments(ctx, http)
    period, pm = opts.history_period, PERIOD_MS[opts.history_period]
    for inst in instruments.values():
        marks = await _marks(ctx, http, inst, start_ms, end_ms, period)
        path = "/v5/market/funding/history"
        for row in await _funding_rows(ctx, http, inst, start_ms, end_ms, opts):
            mark = mark_at(marks, _row_ts(row, "fundingRateTimestamp"), pm)
            for pair in ctx.parse(path, row, parse_funding_history, row, inst, mark,
                                  path) or ():
                yield pair
        path = "/v5/market/open-interest"
        async for row in _cursor_rows(ctx, http, path, {
                "category": "linear", "symbol": inst.symbol, "intervalTime": period,
                "startTime": start_ms, "endTime": end_ms, "limit": opts.history_limit}):
            mark = mark_at(marks, _row_ts(row, "timestamp"), pm)
            for pair in ctx.parse(path, row, parse_open_interest_history, row, inst, mark,
                                  path) or ():
                yield pair
        path = "/v5/market/account-ratio"
        async for row in _cursor_rows(ctx, http, path, {
                "category": "linear", "symbol": inst.symbol, "period": period,
                "startTime": start_ms, "endTime": end_ms, "limit": opts.history_limit}):
            for pair in ctx.parse(path, row, parse_account_ratio, row, inst, path) or ():
                yield pair


def _row_ts(row: Any, key: str) -> int:
    try:
        return int_of(req(row, key), key)
    except PayloadError:
        return 0  # the parser dead-letters the row with the precise reason


async def _marks(ctx: SourceContext, http: RestClient, inst: Instrument, start_ms: int,
                 end_ms: int, period: str) -> dict[int, Decimal]:
    """Mark-price closes per bucket over [start, end] (pages of up to 1000 klines)."""
    path, marks, step = "/v5/market/mark-price-kline", {}, PERIOD_MS[period] * 1000
    for page_start in range(start_ms, end_ms + 1, step):
        params = {"category": "linear", "symbol": inst.symbol,
                  "interval": KLINE_INTERVAL[period], "start": page_start,
                  "end": min(end_ms, page_start + step - 1), "limit": 1000}
        payload = await ctx.fetch(http.get_json(path, params), path)
        if payload is not None:
            marks.update(ctx.parse(path, payload, parse_mark_klines, payload, path) or {})
    return marks


async def _funding_rows(ctx: SourceContext, http: RestClient, inst: Instrument,
                        start_ms: int, end_ms: int, opts: Options) -> list[Any]:
    """funding/history comes newest first, without a cursor: walk endTime back."""
    path, end, rows = "/v5/market/funding/history", end_ms, []
    while end >= start_ms:
        params = {"category": "linear", "symbol": inst.symbol, "startTime": start_ms,
                  "endTime": end, "limit": opts.history_limit}
        payload = await ctx.fetch(http.get_json(path, params), path)
        page = None if payload is None else ctx.parse(path, payload, rows_of, payload, path)
        if not page:
            break
        rows.extend(page)
        oldest = min(_row_ts(r, "fundingRateTimestamp") or end for r in page)
        if len(page) < opts.history_limit or oldest <= start_ms:
            break
        end = oldest - 1
    return sorted(rows, key=lambda r: _row_ts(r, "fundingRateTimestamp"))


async def _cursor_rows(ctx: SourceContext, http: RestClient, path: str,
                       params: dict[str, Any]) -> AsyncIterator[Any]:
    """Rows of a cursor-paged history endpoint (open-interest, account-ratio), oldest first."""
    rows: list[Any] = []
    cursor, seen = "", set()
    while True:
        query = {**params, "cursor": cursor} if cursor else params
        payload = await ctx.fetch(http.get_json(path, query), path)
        result = None if payload is None else ctx.parse(path, payload, result_of, payload, path)
        page = (result or {}).get("list")
        if not isinstance(page, list) or not page:
            break
        rows.extend(page)
        seen.add(cursor)
        cursor = result.get("nextPageCursor") or ""
        if not cursor or cursor in seen:  # a cursor that does not move would loop forever
            break
    for row in sorted(rows, key=lambda r: _row_ts(r, "timestamp")):
        yield row

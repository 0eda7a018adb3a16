"""Binance USD-M perpetuals, where reachable: premium index (funding, mark price), open
interest, 24 h ticker, global long/short account ratio, and `!forceOrder@arr`.

Units and conventions (Binance USD-M docs; harness/recorded/binance/ORIGIN.md):
- numbers are JSON strings (parsed exactly), times JSON ints in ms;
- `lastFundingRate` is per funding interval; the interval is `fundingIntervalHours` from
  /fapi/v1/fundingInfo, which lists only the symbols with adjusted settings: the others
  are 8 h;
- `openInterest` is in the contract's base asset (1000PEPE units for 1000PEPEUSDT), valued
  in USD with the symbol's mark price of the same poll;
- forceOrder `S` is the liquidation ORDER's side: SELL = a LONG position was liquidated;
  `z` filled quantity (base asset), `ap` average fill price. Binance pushes at most ONE
  liquidation per symbol per second (the latest), so every message is marked sampled and
  any sum of them is a lower bound;
- WebSocket: since 2026-04 only the routed path /market carries forceOrder (the legacy
  unrouted /ws path connects but stays silent): ws_url must be .../market/ws/!forceOrder@arr;
- geo: Binance answers HTTP 451 (or a CloudFront 403) from restricted regions. The source
  then logs why, counts it as an error (health degraded, then down) and retries every
  `unreachable_retry_seconds` instead of crashing or hammering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
    liquidated_side_from_order,
    liquidation_msg,
    long_short_msg,
    lookup,
    oi_msg,
    opt_dec,
    price_msg,
    req,
    req_str,
    split_base,
    ts_ms,
)
from ingest.http import HttpError, RestClient
from ingest.settings import Budget, SourceOptions
from ingest.source import Out, SourceContext
from ingest.sources.common import Reloader, load_when_reachable, reload_into
from lcm.topics import FUNDING_RATES, LIQUIDATIONS, LONG_SHORT_RATIO, OPEN_INTEREST, PRICES

VENUE = "binance"
HOUR_MS = 3_600_000
DEFAULT_INTERVAL_HOURS = Decimal(8)
Period = Literal["5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"]
# Request weights (Binance docs): premiumIndex without symbol 10, ticker/24hr without
# symbol 40, everything else used here 1.
WEIGHT = {"/fapi/v1/premiumIndex": 10, "/fapi/v1/ticker/24hr": 40}
BLOCKED = (451, 403)  # restricted location; 403 = WAF limit or CloudFront geo block


class Options(SourceOptions):
    ratio_period: Period = "5m"
    ratio_poll_seconds: float = Field(default=300, gt=0, le=86_400)
    oi_poll_seconds: float = Field(default=60, gt=0, le=86_400)
    instruments_refresh_seconds: float = Field(default=3600, gt=0, le=86_400)
    instruments_retry_seconds: float = Field(default=300, gt=0, le=86_400)  # list unreadable
    unknown_reload_seconds: float = Field(default=60, gt=0, le=86_400)  # new listing seen
    # /futures/data/* (ratios, OI history): 1000 requests / 5 min per IP, separate from
    # the 2400-weight/min budget of /fapi.
    data_budget: Budget = Budget(requests=800, per_seconds=300)
    unreachable_retry_seconds: float = Field(default=900, gt=0, le=86_400)
    # Pause after an HTTP 403 before the client retries (the client's default is Bybit's
    # 10-minute ban; Binance's WAF 403 is shorter, and a geo block should be told sooner).
    forbidden_pause_seconds: float = Field(default=60, gt=0, le=3600)
    # --once skips the streams (one pass of the polls); > 0 listens this long after it.
    once_stream_seconds: float = Field(default=0, ge=0, le=600)
    history_period: Period = "1h"


@dataclass(frozen=True)
class Instrument:
    symbol: str
    base: str
    multiplier: Decimal
    interval_hours: Decimal = DEFAULT_INTERVAL_HOURS


class Unreachable(RuntimeError):
    """The venue refuses this location (HTTP 451/403)."""


# ---------------------------------------------------------------- pure parsers

def parse_exchange_info(payload: Any, intervals: dict[str, Decimal],
                        where: str) -> dict[str, Instrument]:
    """Perpetuals that trade, with their funding interval (default 8 h)."""
    symbols = array(req(payload, "symbols", where), "symbols", where)
    out: dict[str, Instrument] = {}
    for row in symbols:
        if req(row, "contractType", where) != "PERPETUAL" or row.get("status") != "TRADING":
            continue
        symbol = req_str(row, "symbol", where)
        base, mult = split_base(req(row, "baseAsset", where))
        out[symbol] = Instrument(symbol, base, mult,
                                 intervals.get(symbol, DEFAULT_INTERVAL_HOURS))
    return out


def parse_funding_info(payload: Any, where: str) -> dict[str, Decimal]:
    """fundingInfo rows -> {symbol: interval hours} (only the symbols it lists)."""
    array(payload, "fundingInfo", where)
    out = {}
    for row in payload:
        hours = dec(req(row, "fundingIntervalHours", where), "fundingIntervalHours", where)
        if hours <= 0:
            raise PayloadError(f"{where}: fundingIntervalHours: {hours}")
        out[req_str(row, "symbol", where)] = hours
    return out


def parse_premium_index(row: Any, inst: Instrument, where: str) -> Out:
    """premiumIndex row -> funding (rate per the symbol's interval, mark price, ts=time)."""
    ts = ts_ms(req(row, "time", where), "time", where)
    rate = opt_dec(req(row, "lastFundingRate", where), "lastFundingRate", where)
    if rate is None:
        return []
    return [(FUNDING_RATES, funding_msg(
        VENUE, inst.symbol, inst.base, ts, rate, inst.interval_hours,
        mark_price=req(row, "markPrice", where), multiplier=inst.multiplier, where=where))]


def parse_open_interest(row: Any, inst: Instrument, mark: Any, where: str) -> Out:
    """openInterest (base asset units) valued at the mark price of the same poll."""
    ts = ts_ms(req(row, "time", where), "time", where)
    if mark is None:
        raise PayloadError(f"{where}: no mark price for {inst.symbol} to value the OI")
    return [(OPEN_INTEREST, oi_msg(VENUE, inst.symbol, inst.base, ts,
                                     oi_base=req(row, "openInterest", where), price=mark,
                                     multiplier=inst.multiplier, where=where))]


def parse_ticker_24h(row: Any, inst: Instrument, where: str) -> Out:
    """ticker/24hr row: last price; quoteVolume is USDT (or USDC), taken as USD."""
    ts = ts_ms(req(row, "closeTime", where), "closeTime", where)
    return [(PRICES, price_msg(VENUE, inst.symbol, inst.base, ts, req(row, "lastPrice", where),
                                 volume_24h_usd=opt_dec(row.get("quoteVolume"), "quoteVolume",
                                                        where),
                                 multiplier=inst.multiplier, where=where))]


def parse_long_short(row: Any, inst: Instrument, where: str) -> Out:
    """globalLongShortAccountRatio row: shares of ACCOUNTS net long / short."""
    ts = ts_ms(req(row, "timestamp", where), "timestamp", where)
    return [(LONG_SHORT_RATIO, long_short_msg(
        VENUE, inst.symbol, inst.base, ts, "accounts",
        long_share=req(row, "longAccount", where), short_share=req(row, "shortAccount", where),
        ratio=req(row, "longShortRatio", where), where=where))]


def parse_force_order(msg: Any, instruments: dict[str, Instrument], where: str) -> Out:
    """!forceOrder@arr event (raw or in a combined-stream wrapper) -> one liquidation,
    sampled (Binance keeps only the latest per symbol per second). Dated futures
    (BTCUSDT_251226) share the stream and are skipped."""
    if isinstance(msg, dict) and "stream" in msg:
        msg = req(msg, "data", where)
    if req(msg, "e", where) != "forceOrder":
        raise PayloadError(f"{where}: e: expected forceOrder, got {msg.get('e')!r}")
    o = req(msg, "o", where)
    symbol = req_str(o, "s", where)
    inst = instruments.get(symbol)
    if inst is None:
        if "_" in symbol:
            return []
        raise PayloadError(f"{where}: s: {symbol!r} is not a known perpetual")
    ts = ts_ms(req(o, "T", where), "T", where)
    side = liquidated_side_from_order(req(o, "S", where), where)
    qty = dec(req(o, "z", where), "z", where) or dec(req(o, "q", where), "q", where)
    px = dec(req(o, "ap", where), "ap", where) or dec(req(o, "p", where), "p", where)
    key = f"{VENUE}:{symbol}:{ts}:{o['S']}:{o['z']}:{o['ap']}"
    return [(LIQUIDATIONS, liquidation_msg(VENUE, symbol, inst.base, ts, side, px, qty,
                                             dedup_key=key, sampled=True,
                                             multiplier=inst.multiplier, where=where))]


def parse_funding_history(rows: Any, inst: Instrument, where: str) -> list[Out | PayloadError]:
    """fundingRate history (ascending) -> one result per row: the messages, or the error
    for that row. The interval of each settlement is the distance to its neighbour,
    rounded to whole hours (fundingTime can be a few ms late), since intervals change."""
    array(rows, "fundingRate", where, max_rows=1000)  # at most the limit asked for
    times: list[int | None] = []
    for row in rows:
        try:
            times.append(ts_ms(req(row, "fundingTime", where), "fundingTime", where))
        except PayloadError:
            times.append(None)
    out: list[Out | PayloadError] = []
    for i, row in enumerate(rows):
        try:
            hours = _gap_hours(times, i) or inst.interval_hours
            out.append([(FUNDING_RATES, funding_msg(
                VENUE, inst.symbol, inst.base, ts_ms(req(row, "fundingTime", where),
                                                     "fundingTime", where),
                req(row, "fundingRate", where), hours,
                mark_price=opt_dec(row.get("markPrice"), "markPrice", where),
                multiplier=inst.multiplier, where=where))])
        except PayloadError as exc:
            out.append(exc)
    return out


def _gap_hours(times: list[int | None], i: int) -> Decimal | None:
    nxt = times[i + 1] if i + 1 < len(times) else None
    prev = times[i - 1] if i > 0 else None
    here = times[i]
    if here is None:
        return None
    gap = (nxt - here) if nxt is not None else (here - prev) if prev is not None else None
    if gap is None:
        return None
    hours = round(gap / HOUR_MS)
    return Decimal(hours) if 1 <= hours <= 24 else None


def parse_open_interest_hist(row: Any, inst: Instrument, where: str) -> Out:
    """openInterestHist row: sumOpenInterest (base), sumOpenInterestValue (USD); the
    timestamp is a number live but a string in the docs: both are accepted."""
    return [(OPEN_INTEREST, oi_msg(
        VENUE, inst.symbol, inst.base, ts_ms(req(row, "timestamp", where), "timestamp", where),
        oi_base=req(row, "sumOpenInterest", where), oi_usd=req(row, "sumOpenInterestValue", where),
        multiplier=inst.multiplier, where=where))]


# ---------------------------------------------------------------- I/O

async def _get(http: RestClient, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET with the endpoint's weight; a geo block becomes Unreachable."""
    try:
        return await http.get_json(path, params, cost=WEIGHT.get(path, 1))
    except HttpError as exc:
        # 451 fails at once; a 403 is first paused on and retried by the client (it can
        # be Binance's WAF limit), and only a 403 that persists ends here
        if exc.status in BLOCKED or "HTTP 403" in str(exc):
            raise Unreachable(str(exc)) from None
        raise


async def load_instruments(ctx: SourceContext, http: RestClient) -> dict[str, Instrument]:
    path = "/fapi/v1/fundingInfo"
    info = await _get(http, path)
    intervals = ctx.parse(path, info, parse_funding_info, info, path) or {}
    path = "/fapi/v1/exchangeInfo"
    out = parse_exchange_info(await _get(http, path), intervals, path)
    wanted = set(ctx.settings.symbols)
    return {s: i for s, i in out.items() if not wanted or s in wanted}


async def _rows(ctx: SourceContext, http: RestClient, path: str,
                params: dict[str, Any] | None = None) -> list[Any]:
    payload = await ctx.fetch(http.get_json(path, params, cost=WEIGHT.get(path, 1)), path)
    if payload is None:
        return []
    if isinstance(payload, dict) and "code" in payload and "msg" in payload:
        ctx.dead_letter(f"{path}: error {payload['code']}: {payload['msg']}",
                        payload, path)
        return []
    rows = payload if isinstance(payload, list) else [payload]
    return ctx.parse(path, payload, array, rows, "rows", path) or []


def _known(ctx: SourceContext, rows: list, instruments: dict[str, Instrument], path: str):
    for row in rows:
        if not isinstance(row, dict):
            ctx.dead_letter(f"{path}: row is not an object", row, path)
            continue
        inst = lookup(instruments, row.get("symbol"))
        if inst is not None:  # delivery contracts and unwanted symbols are skipped
            yield row, inst


async def poll_markets(ctx: SourceContext, http: RestClient,
                       instruments: dict[str, Instrument], marks: dict[str, Any],
                       marks_ready: asyncio.Event) -> None:
    """premiumIndex for every symbol (funding + the marks the OI poll values with) and
    the 24 h tickers: 50 weight per poll."""
    path = "/fapi/v1/premiumIndex"
    for row, inst in _known(ctx, await _rows(ctx, http, path), instruments, path):
        out = ctx.parse(path, row, parse_premium_index, row, inst, path)
        if out is not None:
            marks[inst.symbol] = row.get("markPrice")
            ctx.publish_all(out)
    marks_ready.set()
    path = "/fapi/v1/ticker/24hr"
    for row, inst in _known(ctx, await _rows(ctx, http, path), instruments, path):
        ctx.publish_all(ctx.parse(path, row, parse_ticker_24h, row, inst, path))


async def poll_open_interest(ctx: SourceContext, http: RestClient,
                             instruments: dict[str, Instrument], marks: dict[str, Any],
                             marks_ready: asyncio.Event) -> None:
    """openInterest per symbol (weight 1 each), valued at the latest mark price. The polls
    start together, so the first one waits (a poll interval at most) for the first marks
    instead of dead-lettering every symbol for want of a price."""
    path = "/fapi/v1/openInterest"
    # If premiumIndex keeps failing, the OI rows without a mark are dead-lettered.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(marks_ready.wait(), timeout=ctx.settings.poll_seconds)
    for inst in list(instruments.values()):
        if ctx.stopping.is_set():
            return
        for row, _ in _known(ctx, await _rows(ctx, http, path, {"symbol": inst.symbol}),
                             {inst.symbol: inst}, path):
            ctx.publish_all(ctx.parse(path, row, parse_open_interest, row, inst,
                                      marks.get(inst.symbol), path))


async def poll_ratios(ctx: SourceContext, data_http: RestClient,
                      instruments: dict[str, Instrument], opts: Options) -> None:
    path = "/futures/data/globalLongShortAccountRatio"
    for inst in list(instruments.values()):
        if ctx.stopping.is_set():
            return
        rows = await _rows(ctx, data_http, path, {"symbol": inst.symbol,
                                                  "period": opts.ratio_period, "limit": 1})
        for row, _ in _known(ctx, rows[-1:], {inst.symbol: inst}, path):
            ctx.publish_all(ctx.parse(path, row, parse_long_short, row, inst, path))


def force_order_symbol(msg: Any) -> Any:
    if isinstance(msg, dict) and "stream" in msg:
        msg = msg.get("data")
    o = msg.get("o") if isinstance(msg, dict) else None
    return o.get("s") if isinstance(o, dict) else None


async def stream_liquidations(ctx: SourceContext, instruments: dict[str, Instrument],
                              reloader: Reloader | None = None) -> None:
    url = ctx.settings.ws_url
    where = f"ws {url}"
    if "/market/" not in url:
        ctx.log.warning("binance: ws_url %s is not on the routed /market path: forceOrder "
                        "delivers nothing on the legacy unrouted path", url)
    async for msg in ctx.ws(url, []):  # the stream is in the URL: nothing to subscribe
        symbol = force_order_symbol(msg)
        if reloader is not None and "_" not in str(symbol):  # a new perpetual, not a future
            await reloader.ensure([symbol])
        ctx.publish_all(ctx.parse(where, msg, parse_force_order, msg, instruments, where))
        if ctx.stopping.is_set():
            return


async def run(ctx: SourceContext) -> None:
    """Funding/mark/tickers every poll_seconds, open interest every oi_poll_seconds,
    ratios every ratio_poll_seconds, the liquidation stream, instruments reloaded every
    instruments_refresh_seconds. From a blocked location: log, count, wait, retry."""
    opts = ctx.options_as(Options)
    http, data_http = _clients(ctx, opts)
    while not ctx.stopping.is_set():
        try:
            instruments = await load_when_reachable(
                ctx, lambda: load_instruments(ctx, http), opts.instruments_retry_seconds)
            marks: dict[str, Any] = {}
            marks_ready = asyncio.Event()
            polls = [ctx.repeat(ctx.settings.poll_seconds, poll_markets, ctx, http,
                                instruments, marks, marks_ready),
                     ctx.repeat(opts.oi_poll_seconds, poll_open_interest, ctx, http,
                                instruments, marks, marks_ready),
                     ctx.repeat(opts.ratio_poll_seconds, poll_ratios, ctx, data_http,
                                instruments, opts)]
            reloader = Reloader(ctx, lambda: load_instruments(ctx, http), instruments,
                                opts.unknown_reload_seconds,
                                (HttpError, PayloadError, Unreachable))
            await ctx.run_tasks(polls, [stream_liquidations(ctx, instruments, reloader)],
                                refresh=(opts.instruments_refresh_seconds,
                                         lambda i=instruments: _refresh(ctx, http, i)),
                                once_stream_seconds=opts.once_stream_seconds)
            return
        except Unreachable as exc:
            reason = (f"binance unreachable from this location ({exc}); "
                      f"retrying in {opts.unreachable_retry_seconds:.0f} s")
            ctx.error(reason, level=logging.ERROR)
            if ctx.once:
                return
            await ctx.sleep(opts.unreachable_retry_seconds)


def _clients(ctx: SourceContext, opts: Options) -> tuple[RestClient, RestClient]:
    """The /fapi client (weight budget) and the /futures/data client (its own cap)."""
    pause = {403: opts.forbidden_pause_seconds}
    return (ctx.http(throttle_defaults=pause),
            ctx.http(budget=opts.data_budget, throttle_defaults=pause))


async def _refresh(ctx: SourceContext, http: RestClient,
                   instruments: dict[str, Instrument]) -> bool:
    await reload_into(ctx, lambda: load_instruments(ctx, http), instruments,
                      (HttpError, PayloadError, Unreachable))
    return False  # one all-market stream: nothing to resubscribe


# ---------------------------------------------------------------- backfill

async def history(ctx: SourceContext, start_ms: int, end_ms: int
                  ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Funding history (full, /fapi/v1/fundingRate), open interest and global account
    ratio (/futures/data/*: Binance keeps only the latest 30 days; older ranges come from
    the public daily metrics files through `backfill binance-files`)."""
    opts = ctx.options_as(Options)
    http, data_http = _clients(ctx, opts)
    instruments = await load_instruments(ctx, http)
    for inst in instruments.values():
        path = "/fapi/v1/fundingRate"
        begin = start_ms
        while begin <= end_ms:
            rows = await _rows(ctx, http, path, {"symbol": inst.symbol, "startTime": begin,
                                                 "endTime": end_ms, "limit": 1000})
            for result, row in zip(parse_funding_history(rows, inst, path), rows, strict=True):
                if isinstance(result, PayloadError):
                    ctx.dead_letter(result.reason, row, path)
                else:
                    for pair in result:
                        yield pair
            stamps = _stamps(rows, "fundingTime")
            if len(rows) < 1000 or not stamps or max(stamps) < begin:  # no progress: stop
                break
            begin = max(stamps) + 1
        for path, parse in (("/futures/data/openInterestHist", parse_open_interest_hist),
                            ("/futures/data/globalLongShortAccountRatio", parse_long_short)):
            begin = start_ms
            while begin <= end_ms:
                rows = await _rows(ctx, data_http, path, {
                    "symbol": inst.symbol, "period": opts.history_period, "startTime": begin,
                    "endTime": end_ms, "limit": 500})
                for row, _ in _known(ctx, rows, {inst.symbol: inst}, path):
                    for pair in ctx.parse(path, row, parse, row, inst, path) or ():
                        yield pair
                stamps = _stamps(rows, "timestamp")
                if len(rows) < 500 or not stamps or max(stamps) < begin:
                    break
                begin = max(stamps) + 1


def _stamps(rows: list[Any], key: str) -> list[int]:
    """The readable times of a history page (to page on; a row without one is
    dead-lettered by its parser)."""
    out = []
    for row in rows:
        try:
            out.append(int_of(req(row, key), key))
        except PayloadError:
            continue
    return out

"""OKX v5 perpetual swaps: funding rate, open interest, last price, long/short account
ratio, and the WebSocket `liquidation-orders` channel (every swap in one subscription).

Units and conventions (OKX v5 docs; harness/recorded/okx/ORIGIN.md):
- every number and every time is a JSON string (ms), parsed exactly;
- `fundingRate` is the rate of the period that settles at `fundingTime`; the interval is
  `nextFundingTime - fundingTime` (1-8 h per instrument), never assumed;
- sizes are in contracts (not coins): one contract is `ctVal * ctMult` of `ctValCcy` (linear swaps:
  coins, e.g. BTC-USDT-SWAP 0.01 BTC; inverse swaps: USD, e.g. BTC-USD-SWAP 100 USD);
- liquidation-orders: `posSide` long/short is the liquidated position; in one-way (net)
  mode `posSide` is "net" and the order `side` says it: sell closes a long (long
  liquidated), buy closes a short; `bkPx` is the bankruptcy price. OKX says the channel
  "doesn't represent the total number of liquidations" (at most about one per contract
  per second): messages are marked sampled, sums are lower bounds;
- the long/short account ratio is per coin across OKX's contracts (`ccy`), so its
  `symbol` is the coin (e.g. "BTC").
"""

from __future__ import annotations

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
from ingest.http import HttpError, RestClient
from ingest.settings import SourceOptions
from ingest.source import Out, SourceContext
from ingest.sources.common import Reloader, load_when_reachable, reload_into, split_data
from lcm.topics import FUNDING_RATES, LIQUIDATIONS, LONG_SHORT_RATIO, OPEN_INTEREST, PRICES

VENUE = "okx"
HOUR_MS = 3_600_000
RubikPeriod = Literal["5m", "1H", "1D"]
RUBIK_PERIOD_MS = {"5m": 300_000, "1H": HOUR_MS, "1D": 86_400_000}


class Options(SourceOptions):
    ratio_period: RubikPeriod = "5m"
    ratio_poll_seconds: float = Field(default=300, gt=0, le=86_400)
    # Trading-statistics (rubik) endpoints allow 5 requests / 2 s per IP: pace them apart
    # from the public endpoints' budget.
    rubik_pause_seconds: float = Field(default=0.5, ge=0.4, le=60)
    instruments_refresh_seconds: float = Field(default=3600, gt=0, le=86_400)
    instruments_retry_seconds: float = Field(default=300, gt=0, le=86_400)  # list unreadable
    unknown_reload_seconds: float = Field(default=60, gt=0, le=86_400)  # new listing seen
    ws_ping_seconds: float = Field(default=25, gt=0, lt=30)  # OKX closes idle sockets at 30 s
    # --once skips the streams (one pass of the polls); > 0 listens this long after it.
    once_stream_seconds: float = Field(default=0, ge=0, le=600)
    history_period: RubikPeriod = "1H"
    history_limit: int = Field(default=100, ge=1, le=100)


@dataclass(frozen=True)
class Instrument:
    inst_id: str
    base: str
    multiplier: Decimal  # coins per unit of the venue's base name (1 for every OKX swap)
    contract_value: Decimal  # ctVal * ctMult, in coins (linear) or USD (inverse)
    inverse: bool  # contract value in USD, margined in the coin

    def contracts(self, sz: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """(coins, USD notional) of `sz` contracts at `price`."""
        if self.inverse:
            usd = sz * self.contract_value
            return usd / price, usd
        coins = sz * self.contract_value
        return coins, coins * price


# ---------------------------------------------------------------- pure parsers

def data_of(payload: Any, where: str) -> Any:
    """`data` of an OKX envelope; code != "0" is the venue refusing the call."""
    code = req(payload, "code", where)
    if str(code) != "0":
        raise PayloadError(f"{where}: code {code}: {payload.get('msg')!r}")
    return req(payload, "data", where)


def rows_of(payload: Any, where: str) -> list[Any]:
    return array(data_of(payload, where), "data", where)


def parse_instrument(row: Any, where: str) -> Instrument | None:
    """One public/instruments row -> Instrument (None unless a live SWAP)."""
    if req(row, "instType", where) != "SWAP" or row.get("state") != "live":
        return None
    inst_id = req_str(row, "instId", where)
    ct_type = req(row, "ctType", where)
    family = row.get("instFamily") or req(row, "uly", where)
    base, mult = split_base(str(family).split("-")[0])
    value = dec(req(row, "ctVal", where), "ctVal", where) * dec(req(row, "ctMult", where),
                                                                 "ctMult", where)
    if value <= 0:
        raise PayloadError(f"{where}: ctVal*ctMult: {value} is not positive")
    if ct_type == "linear":
        ccy, _ = split_base(req(row, "ctValCcy", where))
        if ccy != base:
            raise PayloadError(f"{where}: ctValCcy {row['ctValCcy']!r} is not the base {base!r}")
        return Instrument(inst_id, base, mult, value, inverse=False)
    if ct_type == "inverse":
        if req(row, "ctValCcy", where) != "USD":
            raise PayloadError(f"{where}: inverse swap valued in {row['ctValCcy']!r}, not USD")
        return Instrument(inst_id, base, mult, value, inverse=True)
    raise PayloadError(f"{where}: ctType: expected linear or inverse, got {ct_type!r}")


def parse_funding(row: Any, inst: Instrument, mark: Any, where: str) -> Out:
    """funding-rate row: interval from nextFundingTime - fundingTime; ts = the row's ts."""
    ts = ts_ms(req(row, "ts", where), "ts", where)
    this = ts_ms(req(row, "fundingTime", where), "fundingTime", where)
    nxt = ts_ms(req(row, "nextFundingTime", where), "nextFundingTime", where)
    if nxt <= this:
        raise PayloadError(f"{where}: nextFundingTime {nxt} is not after fundingTime {this}")
    return [(FUNDING_RATES, funding_msg(
        VENUE, inst.inst_id, inst.base, ts, req(row, "fundingRate", where),
        Decimal(nxt - this) / HOUR_MS, mark_price=mark, multiplier=inst.multiplier,
        where=where))]


def parse_open_interest(row: Any, inst: Instrument, where: str) -> Out:
    """open-interest row: oiCcy in coins, oiUsd in USD (oi, in contracts, not needed)."""
    ts = ts_ms(req(row, "ts", where), "ts", where)
    return [(OPEN_INTEREST, oi_msg(VENUE, inst.inst_id, inst.base, ts,
                                     oi_base=req(row, "oiCcy", where),
                                     oi_usd=req(row, "oiUsd", where),
                                     multiplier=inst.multiplier, where=where))]


def parse_ticker(row: Any, inst: Instrument, where: str) -> Out:
    """market/tickers row: last price; 24 h volume in USD = volCcy24h (coins) * last."""
    ts = ts_ms(req(row, "ts", where), "ts", where)
    last = dec(req(row, "last", where), "last", where)
    vol = opt_dec(row.get("volCcy24h"), "volCcy24h", where)
    return [(PRICES, price_msg(VENUE, inst.inst_id, inst.base, ts, last,
                                 volume_24h_usd=None if vol is None else vol * last,
                                 multiplier=inst.multiplier, where=where))]


def parse_long_short_ratio(row: Any, ccy: str, where: str) -> Out:
    """rubik long-short-account-ratio row [ts, ratio] (ratio = long accounts / short)."""
    if not isinstance(row, list) or len(row) < 2:
        raise PayloadError(f"{where}: expected [ts, ratio], got {row!r}")
    base, _ = split_base(ccy)
    return [(LONG_SHORT_RATIO, long_short_msg(
        VENUE, ccy, base, ts_ms(row[0], "ts", where), "accounts", ratio=row[1], where=where))]


def liquidated_side(detail: dict[str, Any], where: str) -> str:
    """posSide long/short names the liquidated position; "net" (one-way mode) leaves it
    to the order side (sell closes a long). A contradiction is an error, not a guess."""
    pos = str(req(detail, "posSide", where)).lower()
    by_order = liquidated_side_from_order(req(detail, "side", where), where)
    if pos == "net":
        return by_order
    by_pos = liquidated_side_from_position(pos, where)
    if by_pos != by_order:
        raise PayloadError(f"{where}: posSide {pos!r} contradicts side {detail['side']!r}")
    return by_pos


def parse_liquidation_orders(msg: Any, instruments: dict[str, Instrument], where: str) -> Out:
    """One liquidation-orders push -> liquidation messages (sizes converted from contracts
    with the instrument's ctVal*ctMult)."""
    data = array(req(msg, "data", where), "data", where)
    out: Out = []
    for item in data:
        inst_id = req_str(item, "instId", where)
        inst = instruments.get(inst_id)
        if inst is None:
            if item.get("instType") not in (None, "SWAP"):
                continue
            raise PayloadError(f"{where}: instId {inst_id!r}: no contract value known")
        for d in array(req(item, "details", where), "details", where):
            ts = ts_ms(req(d, "ts", where), "ts", where)
            side = liquidated_side(d, where)
            px = dec(req(d, "bkPx", where), "bkPx", where)
            sz = dec(req(d, "sz", where), "sz", where)
            if px <= 0:
                raise PayloadError(f"{where}: bkPx: {px} is not positive")
            coins, usd = inst.contracts(sz, px)
            key = f"{VENUE}:{inst_id}:{ts}:{d['side']}:{d['posSide']}:{d['sz']}:{d['bkPx']}"
            out.append((LIQUIDATIONS, liquidation_msg(
                VENUE, inst_id, inst.base, ts, side, px, coins, notional_usd=usd,
                dedup_key=key, sampled=True, multiplier=inst.multiplier, where=where)))
    return out


def parse_funding_history(row: Any, inst: Instrument, interval_hours: Decimal,
                          where: str) -> Out:
    """funding-rate-history row: realizedRate (what was paid) at fundingTime; the interval
    is the distance to the neighbouring settlement (given by the caller)."""
    ts = ts_ms(req(row, "fundingTime", where), "fundingTime", where)
    rate = opt_dec(row.get("realizedRate"), "realizedRate", where)
    return [(FUNDING_RATES, funding_msg(
        VENUE, inst.inst_id, inst.base, ts,
        rate if rate is not None else req(row, "fundingRate", where), interval_hours,
        multiplier=inst.multiplier, where=where))]


def parse_open_interest_history(row: Any, inst: Instrument, where: str) -> Out:
    """rubik open-interest-history row [ts, oi (contracts), oiCcy (coins), oiUsd]."""
    if not isinstance(row, list) or len(row) < 4:
        raise PayloadError(f"{where}: expected [ts, oi, oiCcy, oiUsd], got {row!r}")
    return [(OPEN_INTEREST, oi_msg(VENUE, inst.inst_id, inst.base,
                                     ts_ms(row[0], "ts", where), oi_base=row[2], oi_usd=row[3],
                                     multiplier=inst.multiplier, where=where))]


def is_reply(msg: Any) -> bool:
    """Subscribe acknowledgements / errors: {"event": ...}."""
    return isinstance(msg, dict) and "event" in msg


def is_pong(raw: str | bytes) -> bool:
    return raw in ("pong", b"pong")


# ---------------------------------------------------------------- I/O

async def load_instruments(ctx: SourceContext, http: RestClient) -> dict[str, Instrument]:
    path = "/api/v5/public/instruments"
    payload = await http.get_json(path, {"instType": "SWAP"})
    wanted = set(ctx.settings.symbols)
    out: dict[str, Instrument] = {}
    for row in rows_of(payload, path):
        inst = ctx.parse(path, row, parse_instrument, row, path)
        if inst is not None and (not wanted or inst.inst_id in wanted):
            out[inst.inst_id] = inst
    return out


async def _rows(ctx: SourceContext, http: RestClient, path: str,
                params: dict[str, Any] | None = None) -> list[Any]:
    payload = await ctx.fetch(http.get_json(path, params), path)
    if payload is None:
        return []
    return ctx.parse(path, payload, rows_of, payload, path) or []


def _by_inst(ctx: SourceContext, rows: list[Any], instruments: dict[str, Instrument], path: str):
    """(row, instrument) for the rows of known instruments; rows that are not objects are
    dead-lettered, other instruments (delisted, unwanted) skipped."""
    for row in rows:
        if not isinstance(row, dict):
            ctx.dead_letter(f"{path}: row is not an object", row, path)
            continue
        inst = lookup(instruments, row.get("instId"))
        if inst is not None:
            yield row, inst


async def funding_rows(ctx: SourceContext, http: RestClient, instruments: dict[str, Instrument],
                       mode: dict[str, bool]) -> list[Any]:
    """Every swap's funding row: one call with instId=ANY; if OKX refuses that (code != 0)
    the source says so once and asks per instrument from then on (budget permitting)."""
    path = "/api/v5/public/funding-rate"
    if mode.get("any", True):
        try:
            payload = await http.get_json(path, {"instId": "ANY"})
        except PayloadError as exc:
            ctx.payload_error(exc, where=path)
            return []
        except HttpError as exc:
            if exc.status != 400:  # OKX answers an unknown instId with 400 + code 51001
                ctx.log.warning("%s", exc)
                return []
            payload = {"code": exc.status, "msg": str(exc)}
        if not isinstance(payload, dict) or str(payload.get("code")) == "0":
            return ctx.parse(path, payload, rows_of, payload, path) or []
        ctx.log.warning("okx: funding-rate instId=ANY refused (%s: %s); polling funding "
                        "per instrument", payload.get("code"), payload.get("msg"))
        mode["any"] = False
    rows: list[Any] = []
    for inst_id in list(instruments):
        if ctx.stopping.is_set():
            break
        rows += await _rows(ctx, http, path, {"instId": inst_id})
    return rows


async def poll_markets(ctx: SourceContext, http: RestClient, instruments: dict[str, Instrument],
                       mode: dict[str, bool]) -> None:
    """Funding (every swap in one call, instId=ANY) with mark prices, open interest and
    tickers: four requests per poll."""
    marks = {r.get("instId"): r.get("markPx") for r in
             await _rows(ctx, http, "/api/v5/public/mark-price", {"instType": "SWAP"})
             if isinstance(r, dict)}
    path = "/api/v5/public/funding-rate"
    for row, inst in _by_inst(ctx, await funding_rows(ctx, http, instruments, mode),
                              instruments, path):
        ctx.publish_all(ctx.parse(path, row, parse_funding, row, inst,
                                  marks.get(inst.inst_id) or None, path))
    path = "/api/v5/public/open-interest"
    for row, inst in _by_inst(ctx, await _rows(ctx, http, path, {"instType": "SWAP"}),
                              instruments, path):
        ctx.publish_all(ctx.parse(path, row, parse_open_interest, row, inst, path))
    path = "/api/v5/market/tickers"
    for row, inst in _by_inst(ctx, await _rows(ctx, http, path, {"instType": "SWAP"}),
                              instruments, path):
        ctx.publish_all(ctx.parse(path, row, parse_ticker, row, inst, path))


async def ratio_coins(ctx: SourceContext, http: RestClient,
                      instruments: dict[str, Instrument]) -> list[str]:
    """Coins that have both a swap here and rubik contract statistics."""
    path = "/api/v5/rubik/stat/trading-data/support-coin"
    payload = await ctx.fetch(http.get_json(path), path)
    data = None if payload is None else ctx.parse(path, payload, data_of, payload, path)
    coins = data.get("contract") if isinstance(data, dict) else None
    bases = {i.inst_id.split("-")[0] for i in instruments.values()}
    return sorted(c for c in coins or () if c in bases)


async def poll_ratios(ctx: SourceContext, http: RestClient, instruments: dict[str, Instrument],
                      opts: Options) -> None:
    path = "/api/v5/rubik/stat/contracts/long-short-account-ratio"
    for ccy in await ratio_coins(ctx, http, instruments):
        if ctx.stopping.is_set():
            return
        rows = await _rows(ctx, http, path, {"ccy": ccy, "period": opts.ratio_period})
        for row in rows[:1]:  # newest first
            ctx.publish_all(ctx.parse(path, row, parse_long_short_ratio, row, ccy, path))
        await ctx.sleep(opts.rubik_pause_seconds)


def inst_ids(msg: Any) -> list[Any]:
    data = msg.get("data") if isinstance(msg, dict) else None
    return [d.get("instId") for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def on_frame(ctx: SourceContext, msg: Any, instruments: dict[str, Instrument],
             where: str) -> None:
    """One liquidation-orders push: each instrument's item parsed alone; subscribe
    acknowledgements skipped, a refusal counted, anything else dead-lettered."""
    if is_reply(msg):
        if msg.get("event") == "error":
            ctx.error(f"subscribe refused: {short(msg.get('code'))} {short(msg.get('msg'), 300)}",
                      level=logging.ERROR)
        return
    arg = msg.get("arg") if isinstance(msg, dict) else None
    if isinstance(arg, dict) and arg.get("channel") == "liquidation-orders":
        for one in split_data(msg):  # one instrument's bad item costs only itself
            ctx.publish_all(ctx.parse(where, one, parse_liquidation_orders, one, instruments,
                                      where))
    else:
        ctx.dead_letter(f"{where}: unexpected message", msg, where)


async def stream_liquidations(ctx: SourceContext, instruments: dict[str, Instrument],
                              opts: Options, reloader: Reloader | None = None) -> None:
    url = ctx.settings.ws_url
    sub = {"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}
    where = f"ws {url} liquidation-orders"
    async for msg in ctx.ws(url, [sub], app_ping=lambda: "ping",
                            app_ping_interval=opts.ws_ping_seconds, is_control=is_pong):
        if reloader is not None:  # a swap listed since the last load: learn its ctVal
            await reloader.ensure(i for i in inst_ids(msg) if str(i).endswith("-SWAP"))
        ctx.parse(where, msg, on_frame, ctx, msg, instruments, where)
        if ctx.stopping.is_set():
            return


async def run(ctx: SourceContext) -> None:
    """Markets every poll_seconds, ratios every ratio_poll_seconds, the liquidation stream,
    and the instrument list (contract values) reloaded every instruments_refresh_seconds
    in place (one subscription covers every swap, so the stream never restarts for it)."""
    opts = ctx.options_as(Options)
    http = ctx.http()
    instruments = await load_when_reachable(
        ctx, lambda: load_instruments(ctx, http), opts.instruments_retry_seconds)

    async def refresh() -> bool:  # one subscription covers every swap: never restart
        await reload_into(ctx, lambda: load_instruments(ctx, http), instruments)
        return False

    polls = [ctx.repeat(ctx.settings.poll_seconds, poll_markets, ctx, http, instruments,
                        {"any": True}),
             ctx.repeat(opts.ratio_poll_seconds, poll_ratios, ctx, http, instruments, opts)]
    reloader = Reloader(ctx, lambda: load_instruments(ctx, http), instruments,
                           opts.unknown_reload_seconds)
    await ctx.run_tasks(polls, [stream_liquidations(ctx, instruments, opts, reloader)],
                       refresh=(opts.instruments_refresh_seconds, refresh),
                       once_stream_seconds=opts.once_stream_seconds)


# ---------------------------------------------------------------- backfill

async def history(ctx: SourceContext, start_ms: int, end_ms: int
                  ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Funding history (OKX keeps about 3 months), rubik open-interest history and the
    per-coin long/short account ratio (short windows: the venue keeps little); oldest
    first per instrument and kind."""
    opts = ctx.options_as(Options)
    http = ctx.http()
    instruments = await load_instruments(ctx, http)
    current = {r.get("instId"): r for r in await funding_rows(ctx, http, instruments, {})
               if isinstance(r, dict)}
    for inst in instruments.values():
        path = "/api/v5/public/funding-rate-history"
        rows = await _paged(ctx, http, path, {"instId": inst.inst_id,
                                              "limit": opts.history_limit},
                            start_ms, end_ms, "fundingTime")
        for row, hours in zip(rows, _settlement_hours(rows, current.get(inst.inst_id)),
                              strict=True):
            if hours is None:
                ctx.dead_letter(f"{path}: no funding interval known for {inst.inst_id}",
                                row, path)
                continue
            for pair in ctx.parse(path, row, parse_funding_history, row, inst, hours,
                                  path) or ():
                yield pair
        path = "/api/v5/rubik/stat/contracts/open-interest-history"
        rows = await _rows(ctx, http, path, {"instId": inst.inst_id,
                                             "period": opts.history_period,
                                             "begin": start_ms, "end": end_ms})
        for row in sorted(rows, key=_first_ts):
            for pair in ctx.parse(path, row, parse_open_interest_history, row, inst,
                                  path) or ():
                yield pair
        await ctx.sleep(opts.rubik_pause_seconds)
    path = "/api/v5/rubik/stat/contracts/long-short-account-ratio"
    for ccy in await ratio_coins(ctx, http, instruments):
        rows = await _rows(ctx, http, path, {"ccy": ccy, "period": opts.history_period,
                                             "begin": start_ms, "end": end_ms})
        for row in sorted(rows, key=_first_ts):
            for pair in ctx.parse(path, row, parse_long_short_ratio, row, ccy, path) or ():
                yield pair
        await ctx.sleep(opts.rubik_pause_seconds)


def _first_ts(row: Any) -> int:
    try:
        return int_of(row[0], "ts") if isinstance(row, list) and row else 0
    except PayloadError:
        return 0  # the parser dead-letters it with the reason


def _settlement_hours(rows: list[dict[str, Any]],
                      current: dict[str, Any] | None) -> list[Decimal | None]:
    """Interval of each settlement (rows oldest first): the distance to the next one,
    for the newest the distance from the previous one, for a lone row the instrument's
    current interval (funding-rate nextFundingTime - fundingTime), else None."""
    times = [int_of(r["fundingTime"], "fundingTime") for r in rows]  # read by _paged
    fallback = None
    if current is not None:
        try:
            fallback = (int_of(req(current, "nextFundingTime"), "nextFundingTime")
                        - int_of(req(current, "fundingTime"), "fundingTime"))
        except PayloadError:
            fallback = None
    out: list[Decimal | None] = []
    for i, t in enumerate(times):
        gap = (times[i + 1] - t if i + 1 < len(times)
               else t - times[i - 1] if i else fallback)
        out.append(Decimal(gap) / HOUR_MS if gap and gap > 0 else None)
    return out


async def _paged(ctx: SourceContext, http: RestClient, path: str, params: dict[str, Any],
                 start_ms: int, end_ms: int, time_key: str) -> list[dict[str, Any]]:
    """Rows newest first, paged with `after` (older than), kept inside [start, end] and
    returned oldest first; a row without a readable time is dead-lettered."""
    out: list[dict[str, Any]] = []
    after = end_ms + 1
    while True:
        page: list[tuple[int, dict[str, Any]]] = []
        for row in await _rows(ctx, http, path, {**params, "after": after}):
            try:
                page.append((int_of(req(row, time_key, path), time_key, path), row))
            except PayloadError:
                ctx.dead_letter(f"{path}: {time_key}: missing or not a time", row, path)
        if not page:
            break
        oldest = min(t for t, _ in page)
        out.extend((t, r) for t, r in page if start_ms <= t <= end_ms)
        if oldest <= start_ms or len(page) < params.get("limit", 100) or oldest >= after:
            break  # reached the start, the last page, or a page that does not move back
        after = oldest
    return [r for _, r in sorted(out, key=lambda tr: tr[0])]

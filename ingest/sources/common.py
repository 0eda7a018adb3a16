"""What several venue modules share beyond the SourceContext plumbing: a venue's
instrument list (loaded when reachable, reloaded in place, reloaded when a stream names a
listing it does not know), a push split into one push per element, and a market snapshot
as the contract's three messages. Parsing stays in the venue modules (pure functions)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

from ingest.contract import MAX_ROWS, PayloadError, funding_msg, oi_msg, price_msg
from ingest.http import HttpError
from ingest.source import Out, SourceContext
from lcm.topics import FUNDING_RATES, OPEN_INTEREST, PRICES

LoadErrors = tuple[type[Exception], ...]
DEFAULT_LOAD_ERRORS: LoadErrors = (HttpError, PayloadError)


def split_data(msg: Any) -> list[Any]:
    """A push whose `data` is an array, as one push per element (same envelope), so a
    parser rejects only the element it cannot read; anything else is returned whole (an
    array over MAX_ROWS too: the parser refuses it in one go, not item by item)."""
    data = msg.get("data") if isinstance(msg, dict) else None
    if not isinstance(data, list) or not 2 <= len(data) <= MAX_ROWS:
        return [msg]
    return [{**msg, "data": [item]} for item in data]


def market_snapshot(exchange: str, symbol: str, base: str, ts: int, multiplier: Decimal,
                    where: str, *, price: Any, volume_24h_usd: Any, funding_rate: Any,
                    interval_hours: int, oi_base: Any) -> Out:
    """One market of a venue snapshot (Hyperliquid's asset contexts, dYdX's perpetual
    markets): its price, funding and open interest, all at the snapshot's one price.
    oi_base is in listed units (1000 PEPE for kPEPE): oi_usd = units * price per unit,
    oi_base = units * multiplier coins."""
    common = {"exchange": exchange, "symbol": symbol, "base": base, "ts": ts,
              "multiplier": multiplier, "where": where}
    return [
        (PRICES, price_msg(price=price, volume_24h_usd=volume_24h_usd, **common)),
        (FUNDING_RATES, funding_msg(funding_rate=funding_rate, interval_hours=interval_hours,
                                      mark_price=price, **common)),
        (OPEN_INTEREST, oi_msg(oi_base=oi_base, price=price, **common)),
    ]


# ---------------------------------------------------------------- instrument lists

async def load_when_reachable(ctx: SourceContext, load: Callable[[], Awaitable[dict[str, Any]]],
                              retry_seconds: float = 300) -> dict[str, Any]:
    """The venue's instrument list, retried every `retry_seconds` while it cannot be read
    (outage, geo block): the source stays up and says why in its log and health."""
    while True:
        try:
            return await load()
        except DEFAULT_LOAD_ERRORS as exc:
            _dead_letter_body(ctx, exc)
            ctx.health.error(f"instruments: {exc}")
            ctx.log.error("%s: cannot load instruments (%s); retrying in %.0f s", ctx.name,
                          exc, retry_seconds)
            if ctx.once or not await ctx.sleep(retry_seconds):
                return {}


async def reload_into(ctx: SourceContext, load: Callable[[], Awaitable[dict[str, Any]]],
                      instruments: dict[str, Any],
                      errors: LoadErrors = DEFAULT_LOAD_ERRORS) -> bool:
    """Reload the instruments into the dict the loops and parsers share (a changed
    funding interval or contract value is picked up in place); True when the set of
    symbols changed. A failed reload keeps the old list."""
    try:
        fresh = await load()
    except errors as exc:
        _dead_letter_body(ctx, exc)
        ctx.log.warning("%s: instrument refresh failed, keeping the old list: %s", ctx.name, exc)
        return False
    changed = fresh.keys() != instruments.keys()
    instruments.clear()
    instruments.update(fresh)
    return changed


def _dead_letter_body(ctx: SourceContext, exc: Exception) -> None:
    """A body that was not JSON (the client attached it) goes to the dead letters; a
    venue's well-formed refusal (retCode/code != 0, HTTP errors) is only logged."""
    if isinstance(exc, PayloadError) and exc.raw is not None:
        ctx.payload_error(exc)


class Reloader:
    """Reloads the shared instrument dict when a stream names a symbol it does not know
    (a listing since the last load), at most once per `min_interval_s`, so the push can
    be parsed instead of dead-lettered."""

    def __init__(self, ctx: SourceContext, load: Callable[[], Awaitable[dict[str, Any]]],
                 instruments: dict[str, Any], min_interval_s: float = 60.0,
                 errors: LoadErrors = DEFAULT_LOAD_ERRORS) -> None:
        self.ctx, self.load, self.instruments = ctx, load, instruments
        self.min_interval_s, self.errors = min_interval_s, errors
        self.last = float("-inf")  # the first unknown symbol reloads at once

    async def ensure(self, symbols: Iterable[Any]) -> None:
        unknown = {s for s in symbols if isinstance(s, str) and s not in self.instruments}
        if unknown and time.monotonic() - self.last >= self.min_interval_s:
            self.last = time.monotonic()
            self.ctx.log.info("%s: unknown %s in the stream: reloading instruments",
                              self.ctx.name, ", ".join(sorted(unknown)))
            await reload_into(self.ctx, self.load, self.instruments, self.errors)

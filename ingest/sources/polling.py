"""Helpers shared by the REST-polling sources (Hyperliquid, dYdX, CoinGecko, Etherscan):
one poll that never ends the loop, raw text for dead letters, and a market snapshot as
the contract's three messages."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from ingest.contract import PayloadError, funding_msg, oi_msg, price_msg
from ingest.http import HttpError
from lcm.topics import FUNDING_RATES, OPEN_INTEREST, PRICES

RAW_LIMIT = 100_000  # characters of a bad payload kept in its dead letter


async def guarded(ctx: Any, call: Awaitable[Any], where: str) -> Any:
    """Await one poll. A body that is not JSON (or not the expected shape) is
    dead-lettered; an HTTP failure (already retried and counted by the client) is logged;
    neither ends the source. Returns the call's result or None."""
    try:
        return await call
    except PayloadError as exc:
        ctx.dead_letter(exc.reason, getattr(exc, "raw", ""), getattr(exc, "where", where))
    except HttpError as exc:
        ctx.log.warning("%s: %s", where, exc)
    return None


def dump_raw(obj: Any) -> str:
    """The upstream object as JSON text for a dead letter (Decimals as written)."""
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    return text[:RAW_LIMIT]


def market_snapshot(exchange: str, symbol: str, base: str, ts: int, multiplier: Decimal,
                    where: str, *, price: Any, volume_24h_usd: Any, funding_rate: Any,
                    interval_hours: int, oi_base: Any) -> list[tuple[str, dict[str, Any]]]:
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

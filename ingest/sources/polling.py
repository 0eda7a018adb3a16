"""Helpers shared by the REST-polling sources (Hyperliquid, dYdX, CoinGecko, Etherscan):
one poll that never ends the loop, and raw text for dead letters."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from ingest.contract import PayloadError
from ingest.http import HttpError

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

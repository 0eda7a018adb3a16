"""A large, realistic event mix for benchmarks: many assets on four venues, the message
shapes and cadences of ingest/samples/sample.jsonl, generated fast and deterministically.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from lcm.topics import (
    FUNDING_RATES,
    LIQUIDATIONS,
    LONG_SHORT_RATIO,
    OPEN_INTEREST,
    PRICES,
    STABLECOIN_FLOWS,
)

VENUES = ("bybit", "okx", "binance", "hyperliquid")
T0_MS = 1_795_183_200_000  # 2026-11-20 14:00 UTC, a whole minute


@dataclass(frozen=True)
class Event:
    topic: str
    key: bytes
    value: bytes
    ts: int


def _symbol(venue: str, base: str) -> str:
    return {"okx": f"{base}-USDT-SWAP", "hyperliquid": base}.get(venue, f"{base}USDT")


def events(n_assets: int, minutes: int, prices_per_minute: int, seed: int = 7) -> Iterator[Event]:
    """Per venue and asset and minute: `prices_per_minute` prices, one funding rate, one
    open interest, one long/short ratio (not Hyperliquid) and a few liquidations; a few
    stablecoin transfers per minute market-wide. Yielded in event-time order per minute."""
    rng = random.Random(seed)
    assets = [f"A{i:03d}" for i in range(n_assets)]
    price0 = {a: 10 ** rng.uniform(-1, 5) for a in assets}
    oi0 = {a: 10 ** rng.uniform(7, 10) for a in assets}
    for m in range(minutes):
        batch: list[Event] = []
        base_ms = T0_MS + m * 60_000
        for a in assets:
            drift = 1 + 0.0005 * m
            for v in VENUES:
                common = {"exchange": v, "symbol": _symbol(v, a), "base": a}
                key = f"{v}:{a}".encode()

                def add(topic: str, fields: dict, ts: int, common=common, key=key,
                        out=batch) -> None:
                    msg = {**common, "ts": ts, "ingest_ts": ts + 150, **fields}
                    out.append(Event(topic, key, orjson.dumps(msg), ts))

                for k in range(prices_per_minute):
                    ts = base_ms + int((k + rng.random()) * 60_000 / prices_per_minute)
                    add(PRICES, {"price": price0[a] * drift * (1 + rng.gauss(0, 1e-4))}, ts)
                ts = base_ms + rng.randrange(1, 59_999)
                add(FUNDING_RATES, {"funding_rate": rng.uniform(0.00005, 0.0004),
                                      "interval_hours": 1 if v == "hyperliquid" else 8,
                                      "mark_price": price0[a] * drift}, ts)
                oi = oi0[a] * (1 + 0.002 * m) / 4
                add(OPEN_INTEREST, {"oi_base": oi / price0[a], "oi_usd": oi},
                    base_ms + rng.randrange(1, 59_999))
                if v != "hyperliquid":
                    share = rng.uniform(0.45, 0.75)
                    add(LONG_SHORT_RATIO, {"long_share": share, "short_share": 1 - share,
                                             "ratio": share / (1 - share),
                                             "population": "accounts"},
                        base_ms + rng.randrange(1, 59_999))
                for j in range(rng.randrange(0, 4)):
                    ts = base_ms + rng.randrange(1, 59_999)
                    qty = rng.uniform(0.1, 50)
                    add(LIQUIDATIONS, {"side": rng.choice(("long", "short")),
                                         "price": price0[a], "qty": qty,
                                         "notional_usd": qty * price0[a],
                                         "id": f"{a}-{m}-{j}-{ts}"}, ts)
        for j in range(rng.randrange(2, 8)):
            ts = base_ms + rng.randrange(1, 59_999)
            msg = {"chain": "ethereum", "symbol": "USDT", "base": "USDT", "ts": ts,
                   "ingest_ts": ts + 900, "token": "USDT",
                   "tx_hash": f"0x{rng.getrandbits(256):064x}", "log_index": j,
                   "amount_usd": rng.uniform(1e4, 5e6), "from": "0x" + "1" * 40,
                   "to": "0x" + "2" * 40,
                   "direction": rng.choice(("inflow", "outflow", "internal")),
                   "exchange_label": "binance"}
            batch.append(Event(STABLECOIN_FLOWS, b"ethereum:USDT", orjson.dumps(msg), ts))
        batch.sort(key=lambda e: e.ts)
        yield from batch

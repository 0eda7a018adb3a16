#!/usr/bin/env python3
"""Deterministic generator for ``ingest/samples/sample.jsonl``.

Writes 15 minutes (2026-11-20 14:00-14:15 UTC) of *synthesized* messages in
the message contract (docs/contract.md), one replay envelope per line::

    {"topic": "<topic>", "value": {<normalized message>}}

Lines are sorted by ``value.ts`` (ties by topic). The scenario: flat prices with
open interest building up, elevated funding and a long-heavy account ratio in
minutes 0-8; a burst of large stablecoin inflows to exchange wallets in minutes
8-11; a long-liquidation cascade on BTC and ETH in minutes 9-12 with price
falling about 2 % and open interest dropping; a calm tail after that.

Usage::

    python -m ingest.samples.make_sample            # write sample.jsonl, check it
    python -m ingest.samples.make_sample --check    # only check an existing file

Standard library and the kernel's contract (lcm/contract.py) only; the same seed always
gives byte-identical output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lcm.contract import MARKET_TOPICS
from lcm.topics import (
    DATA_TOPICS,
    FUNDING_RATES,
    LIQUIDATIONS,
    LONG_SHORT_RATIO,
    OPEN_INTEREST,
    PRICES,
    STABLECOIN_FLOWS,
)

Msg = dict[str, Any]
Envelope = dict[str, Any]

SEED = 20261120
HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "sample.jsonl"

MINUTE_MS = 60_000
MINUTES = 15
START_MS = int(datetime(2026, 11, 20, 14, 0, tzinfo=UTC).timestamp()) * 1000
END_MS = START_MS + MINUTES * MINUTE_MS

ASSETS = ("BTC", "ETH", "SOL")
VENUES = ("bybit", "okx", "binance", "hyperliquid")
LSR_VENUES = ("bybit", "okx", "binance")  # Hyperliquid publishes no L/S ratio
# Hyperliquid has no official public all-market liquidation feed (notes section 4).
LIQ_VENUES = ("bybit", "okx", "binance")

CASCADE_ASSETS = ("BTC", "ETH")
CASCADE_MINUTES = (9, 10, 11, 12)
FLOW_BURST_MINUTES = (8, 9, 10, 11)

BASE_PRICE = {"BTC": 95_000.0, "ETH": 3_300.0, "SOL": 190.0}
PRICE_DECIMALS = {"BTC": 1, "ETH": 2, "SOL": 3}  # tick 0.1 / 0.01 / 0.001
QTY_STEP_DECIMALS = {"BTC": 3, "ETH": 2, "SOL": 1}  # Bybit/Binance lot steps
OKX_CT_VAL = {"BTC": 0.01, "ETH": 0.1, "SOL": 1.0}  # base units per contract
PRICE_NOISE_1S = {"BTC": 0.00004, "ETH": 0.00005, "SOL": 0.00007}
PRICE_DROP = {"BTC": 0.021, "ETH": 0.026, "SOL": 0.006}  # fraction, min 9-12
PRICE_REBOUND = {"BTC": 0.004, "ETH": 0.005, "SOL": 0.002}  # after minute 12
OI_BUILDUP_PER_MIN = {"BTC": 0.005, "ETH": 0.006, "SOL": 0.0003}
OI_DROP = {"BTC": 0.08, "ETH": 0.09, "SOL": 0.004}

VENUE_BASIS = {"bybit": 0.00005, "okx": -0.00008, "binance": 0.0, "hyperliquid": 0.0002}
VENUE_FUNDING_MULT = {"bybit": 1.0, "okx": 0.9, "binance": 1.05, "hyperliquid": 1.1}
FUNDING_INTERVAL_H = {"bybit": 8, "okx": 8, "binance": 8, "hyperliquid": 1}
# Funding as an 8h-equivalent rate: before the cascade, and after it has reset.
FUNDING_HOT = {"BTC": 0.00045, "ETH": 0.0005, "SOL": 0.00011}
FUNDING_COOL = {"BTC": 0.00007, "ETH": 0.00006, "SOL": 0.0001}
LONG_SHARE_HOT = {"BTC": 0.74, "ETH": 0.76, "SOL": 0.55}
LONG_SHARE_AFTER = {"BTC": 0.61, "ETH": 0.60, "SOL": 0.54}

OI_USD_START = {
    ("bybit", "BTC"): 6.0e9,
    ("okx", "BTC"): 3.6e9,
    ("binance", "BTC"): 9.2e9,
    ("hyperliquid", "BTC"): 3.1e9,
    ("bybit", "ETH"): 3.3e9,
    ("okx", "ETH"): 1.9e9,
    ("binance", "ETH"): 5.1e9,
    ("hyperliquid", "ETH"): 1.5e9,
    ("bybit", "SOL"): 1.1e9,
    ("okx", "SOL"): 0.55e9,
    ("binance", "SOL"): 1.6e9,
    ("hyperliquid", "SOL"): 0.65e9,
}
VOLUME_24H_USD = {"bybit": 7.4e9, "okx": 5.2e9, "binance": 15.8e9, "hyperliquid": 3.3e9}
VOLUME_ASSET_SHARE = {"BTC": 1.0, "ETH": 0.45, "SOL": 0.16}

# Phase (ms into each slot) at which each venue's poller/stream lands, so that the
# venues do not all share a timestamp. Prices: 10 s slots; the rest: 60 s slots.
PRICE_PHASE_MS = {"bybit": 1_200, "okx": 3_400, "binance": 5_100, "hyperliquid": 7_300}
MINUTE_PHASE_MS = {
    FUNDING_RATES: {"bybit": 4_000, "okx": 17_000, "binance": 29_000, "hyperliquid": 41_000},
    OPEN_INTEREST: {"bybit": 6_500, "okx": 19_500, "binance": 31_500, "hyperliquid": 43_500},
    LONG_SHORT_RATIO: {"bybit": 9_000, "okx": 22_000, "binance": 35_000},
}

# Liquidations per venue per asset per minute (Poisson means).
LIQ_BASE_RATE = {"BTC": 1.0, "ETH": 0.8, "SOL": 0.6}
LIQ_VENUE_MULT = {"bybit": 1.2, "okx": 0.6, "binance": 0.9}
LIQ_CASCADE_RATE = {9: 7.0, 10: 16.0, 11: 12.0, 12: 5.0}
LIQ_CASCADE_ASSET_MULT = {"BTC": 1.0, "ETH": 0.85}
LIQ_SIZE_MULT = {"BTC": 1.0, "ETH": 0.8, "SOL": 0.45}

# Ethereum mainnet: post-merge slots are 12 s after the beacon genesis time.
ETH_GENESIS_S = 1_606_824_023
ETH_SLOT_S = 12
FLOW_TOKENS = ("USDT", "USDC")
FLOW_EXCHANGES = ("binance", "okx", "bybit", "coinbase")


def _synthetic_address(tag: str) -> str:
    """A stable, obviously synthetic 20-byte address (lowercase, like Etherscan)."""
    return "0x" + hashlib.sha256(f"lcm-sample:{tag}".encode()).hexdigest()[:40]


# Synthetic wallet labels: these are NOT real exchange wallets.
EXCHANGE_WALLETS: dict[str, str] = {
    _synthetic_address(f"{ex}-hot-{i}"): ex
    for ex, n in (("binance", 3), ("okx", 2), ("bybit", 2), ("coinbase", 1))
    for i in range(n)
}
USER_WALLETS = tuple(_synthetic_address(f"wallet-{i}") for i in range(40))
WHALE_WALLETS = tuple(_synthetic_address(f"whale-{i}") for i in range(6))


def venue_symbol(venue: str, base: str) -> str:
    """The venue's own symbol spelling for the USDT-margined perpetual."""
    if venue in ("bybit", "binance"):
        return f"{base}USDT"
    if venue == "okx":
        return f"{base}-USDT-SWAP"
    if venue == "hyperliquid":
        return base
    raise ValueError(f"unknown venue {venue!r}")


def smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def cascade_progress(minute: float) -> float:
    """0 before the cascade, 1 once it is over (steepest during minute 10)."""
    return smoothstep((minute - 9.1) / 2.9)


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; fine for the small means used here."""
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class PricePaths:
    """Per-asset mid price at 1 s resolution: mean-reverting noise x cascade shape."""

    def __init__(self, rng: random.Random) -> None:
        self.noise: dict[str, list[float]] = {}
        for asset in ASSETS:
            level, series = 0.0, []
            for _ in range(MINUTES * 60 + 1):
                level = 0.995 * level + rng.gauss(0.0, PRICE_NOISE_1S[asset])
                series.append(level)
            self.noise[asset] = series

    def mid(self, asset: str, ts: int) -> float:
        minute = (ts - START_MS) / MINUTE_MS
        shape = (
            1.0
            - PRICE_DROP[asset] * cascade_progress(minute)
            + PRICE_REBOUND[asset] * smoothstep((minute - 12.0) / 3.0)
        )
        second = min(MINUTES * 60, max(0, (ts - START_MS) // 1000))
        return BASE_PRICE[asset] * shape * math.exp(self.noise[asset][second])

    def venue_price(self, venue: str, asset: str, ts: int) -> float:
        return self.mid(asset, ts) * (1.0 + VENUE_BASIS[venue])


def _common(venue: str, asset: str, ts: int, rng: random.Random) -> Msg:
    return {
        "exchange": venue,
        "symbol": venue_symbol(venue, asset),
        "base": asset,
        "ts": ts,
        "ingest_ts": ts + rng.randint(80, 650),
    }


def gen_prices(rng: random.Random, paths: PricePaths) -> list[Envelope]:
    out: list[Envelope] = []
    for venue in VENUES:
        for asset in ASSETS:
            for slot in range(MINUTES * 6):
                ts = START_MS + slot * 10_000 + PRICE_PHASE_MS[venue] + rng.randint(1, 1_800)
                price = paths.venue_price(venue, asset, ts) * (1 + rng.gauss(0, 0.00005))
                msg = _common(venue, asset, ts, rng)
                msg["price"] = round(price, PRICE_DECIMALS[asset])
                # Binance's markPrice stream carries no volume: leave the optional
                # field out there, as the live producer would.
                if venue != "binance":
                    minute = slot / 6
                    vol = (
                        VOLUME_24H_USD[venue]
                        * VOLUME_ASSET_SHARE[asset]
                        * (1 + 0.00003 * slot + 0.04 * cascade_progress(minute))
                    )
                    msg["volume_24h_usd"] = round(vol, 2)
                out.append({"topic": PRICES, "value": msg})
    return out


def _minute_ts(rng: random.Random, topic: str, venue: str, minute: int) -> int:
    return START_MS + minute * MINUTE_MS + MINUTE_PHASE_MS[topic][venue] + rng.randint(1, 9_000)


def funding_8h(asset: str, minute: float) -> float:
    hot, cool = FUNDING_HOT[asset], FUNDING_COOL[asset]
    return hot + (cool - hot) * cascade_progress(minute)


def gen_funding(rng: random.Random, paths: PricePaths) -> list[Envelope]:
    out: list[Envelope] = []
    for venue in VENUES:
        for asset in ASSETS:
            for minute in range(MINUTES):
                ts = _minute_ts(rng, FUNDING_RATES, venue, minute)
                m = (ts - START_MS) / MINUTE_MS
                rate8 = funding_8h(asset, m) * VENUE_FUNDING_MULT[venue]
                rate8 *= 1 + rng.gauss(0, 0.03)
                rate8 = min(0.0004, max(0.00005, rate8))
                interval = FUNDING_INTERVAL_H[venue]
                msg = _common(venue, asset, ts, rng)
                msg["funding_rate"] = round(rate8 * interval / 8, 8)
                msg["interval_hours"] = interval
                mark = paths.venue_price(venue, asset, ts)
                msg["mark_price"] = round(mark, PRICE_DECIMALS[asset])
                out.append({"topic": FUNDING_RATES, "value": msg})
    return out


def gen_open_interest(rng: random.Random, paths: PricePaths) -> list[Envelope]:
    out: list[Envelope] = []
    for venue in VENUES:
        for asset in ASSETS:
            oi0 = OI_USD_START[(venue, asset)] / BASE_PRICE[asset]
            for minute in range(MINUTES):
                ts = _minute_ts(rng, OPEN_INTEREST, venue, minute)
                m = (ts - START_MS) / MINUTE_MS
                build = 1 + OI_BUILDUP_PER_MIN[asset] * min(m, 9.0)
                drop = 1 - OI_DROP[asset] * cascade_progress(m)
                oi_base = oi0 * build * drop * (1 + rng.gauss(0, 0.0004))
                oi_base = round(oi_base, QTY_STEP_DECIMALS[asset])
                mark = paths.venue_price(venue, asset, ts)
                msg = _common(venue, asset, ts, rng)
                msg["oi_base"] = oi_base
                msg["oi_usd"] = round(oi_base * mark, 2)
                out.append({"topic": OPEN_INTEREST, "value": msg})
    return out


def gen_long_short(rng: random.Random) -> list[Envelope]:
    out: list[Envelope] = []
    for venue in LSR_VENUES:
        for asset in ASSETS:
            for minute in range(MINUTES):
                ts = _minute_ts(rng, LONG_SHORT_RATIO, venue, minute)
                m = (ts - START_MS) / MINUTE_MS
                hot, after = LONG_SHARE_HOT[asset], LONG_SHARE_AFTER[asset]
                # Longs crowd in slowly before the cascade, then get flushed.
                ramp = hot - 0.02 + 0.02 * min(m, 9.0) / 9.0
                share = ramp + (after - ramp) * cascade_progress(m)
                long_share = round(share + rng.gauss(0, 0.002), 4)
                short_share = round(1.0 - long_share, 4)
                msg = _common(venue, asset, ts, rng)
                msg["long_share"] = long_share
                msg["short_share"] = short_share
                msg["ratio"] = round(long_share / short_share, 4)
                msg["population"] = "accounts"
                out.append({"topic": LONG_SHORT_RATIO, "value": msg})
    return out


def _liq_rate(venue: str, asset: str, minute: int) -> tuple[float, bool]:
    """(Poisson mean, is_cascade) for one venue/asset/minute."""
    if asset in CASCADE_ASSETS and minute in LIQ_CASCADE_RATE:
        rate = LIQ_CASCADE_RATE[minute] * LIQ_CASCADE_ASSET_MULT[asset]
        return rate * LIQ_VENUE_MULT[venue], True
    return LIQ_BASE_RATE[asset] * LIQ_VENUE_MULT[venue], False


def gen_liquidations(rng: random.Random, paths: PricePaths) -> list[Envelope]:
    out: list[Envelope] = []
    for venue in LIQ_VENUES:
        for asset in ASSETS:
            symbol = venue_symbol(venue, asset)
            seen: set[str] = set()
            for minute in range(MINUTES):
                lam, cascade = _liq_rate(venue, asset, minute)
                n = poisson(rng, lam)
                minute_ms = START_MS + minute * MINUTE_MS
                if venue == "bybit":
                    # allLiquidation pushes every liquidation.
                    offsets = sorted(rng.randint(1, MINUTE_MS - 1) for _ in range(n))
                else:
                    # Binance forceOrder / OKX liquidation-orders: at most one
                    # liquidation per symbol per second reaches us.
                    seconds = sorted(rng.sample(range(60), min(n, 60)))
                    offsets = [s * 1000 + rng.randint(1, 999) for s in seconds]
                for off in offsets:
                    ts = minute_ms + off
                    p_long = 0.95 if cascade else 0.55
                    side = "long" if rng.random() < p_long else "short"
                    median = 60_000.0 if cascade else 7_000.0
                    sigma = 1.25 if cascade else 1.1
                    target = rng.lognormvariate(math.log(median), sigma)
                    target = min(4e6, max(200.0, target * LIQ_SIZE_MULT[asset]))
                    # Bankruptcy/fill price sits beyond the market in the
                    # direction of the forced order.
                    slip = rng.uniform(0.0003, 0.0025)
                    sign = -1.0 if side == "long" else 1.0
                    px = paths.venue_price(venue, asset, ts) * (1 + sign * slip)
                    price = round(px, PRICE_DECIMALS[asset])
                    if venue == "okx":
                        ct_val = OKX_CT_VAL[asset]
                        sz = max(1, round(target / price / ct_val))
                        qty = round(sz * ct_val, 6)
                        raw_qty = str(sz)  # OKX sz is in contracts
                    else:
                        dec = QTY_STEP_DECIMALS[asset]
                        steps = max(1, round(target / price * 10**dec))
                        qty = round(steps / 10**dec, dec)
                        raw_qty = f"{qty:.{dec}f}"
                    # None of the three feeds has a liquidation id: derive one.
                    liq_id = f"{venue}:{symbol}:{ts}:{side}:{raw_qty}"
                    while liq_id in seen:  # vanishingly rare; keep ids unique
                        ts += 1
                        liq_id = f"{venue}:{symbol}:{ts}:{side}:{raw_qty}"
                    seen.add(liq_id)
                    msg = _common(venue, asset, ts, rng)
                    msg["id"] = liq_id
                    msg["side"] = side
                    msg["price"] = price
                    msg["qty"] = qty
                    msg["notional_usd"] = round(price * qty, 2)
                    # Binance and OKX push at most one per symbol per second: their
                    # sums are lower bounds (contract: sampled).
                    msg["sampled"] = venue != "bybit"
                    out.append({"topic": LIQUIDATIONS, "value": msg})
    return out


def _block_times_ms(minute: int) -> list[int]:
    """Ethereum block timestamps (ms) falling inside the given sample minute."""
    lo = START_MS // 1000 + minute * 60
    first = lo + (-(lo - ETH_GENESIS_S)) % ETH_SLOT_S
    return [s * 1000 for s in range(first, lo + 60, ETH_SLOT_S)]


def _flow(
    rng: random.Random,
    ts: int,
    token: str,
    amount: float,
    src: str,
    dst: str,
) -> Envelope:
    src_ex, dst_ex = EXCHANGE_WALLETS.get(src), EXCHANGE_WALLETS.get(dst)
    if src_ex and dst_ex:
        direction, label = "internal", dst_ex
    elif dst_ex:
        direction, label = "inflow", dst_ex
    elif src_ex:
        direction, label = "outflow", src_ex
    else:
        raise ValueError("a flow needs an exchange wallet on at least one side")
    msg: Msg = {
        "chain": "ethereum",
        "symbol": token,
        "base": token,
        "ts": ts,
        "ingest_ts": ts + rng.randint(150, 900),
        "token": token,
        "tx_hash": "0x" + rng.randbytes(32).hex(),
        "log_index": rng.randint(0, 420),
        "amount_usd": round(amount, 2),
        "from": src,
        "to": dst,
        "direction": direction,
        "exchange_label": label,
    }
    return {"topic": STABLECOIN_FLOWS, "value": msg}


def gen_flows(rng: random.Random) -> list[Envelope]:
    out: list[Envelope] = []
    ex_wallets = sorted(EXCHANGE_WALLETS)
    big_ex_wallets = sorted(a for a, ex in EXCHANGE_WALLETS.items() if ex != "coinbase")
    for minute in range(MINUTES):
        blocks = _block_times_ms(minute)
        for _ in range(poisson(rng, 3.0)):
            token = "USDT" if rng.random() < 0.7 else "USDC"
            amount = min(8e6, max(1_000.0, rng.lognormvariate(math.log(150_000), 1.3)))
            if rng.random() < 0.2:  # people like round numbers
                amount = float(round(amount, -3))
            roll = rng.random()
            if roll < 0.45:
                src, dst = rng.choice(USER_WALLETS), rng.choice(ex_wallets)
            elif roll < 0.9:
                src, dst = rng.choice(ex_wallets), rng.choice(USER_WALLETS)
            else:
                src, dst = rng.sample(ex_wallets, 2)
                while EXCHANGE_WALLETS[src] == EXCHANGE_WALLETS[dst]:
                    src, dst = rng.sample(ex_wallets, 2)
            out.append(_flow(rng, rng.choice(blocks), token, amount, src, dst))
        if minute in FLOW_BURST_MINUTES:
            # Whales moving stablecoins onto exchanges: distribution pressure.
            for _ in range(3 + poisson(rng, 2.0)):
                token = "USDT" if rng.random() < 0.75 else "USDC"
                amount = float(round(math.exp(rng.uniform(math.log(5e6), math.log(4e7))), -3))
                src, dst = rng.choice(WHALE_WALLETS), rng.choice(big_ex_wallets)
                out.append(_flow(rng, rng.choice(blocks), token, amount, src, dst))
    return out


def _sort_key(env: Envelope) -> tuple[int, str, str, str, str]:
    v = env["value"]
    tail = str(v.get("id") or v.get("tx_hash") or "") + f":{v.get('log_index', '')}"
    return (v["ts"], env["topic"], v.get("exchange") or v.get("chain"), v["symbol"], tail)


def generate(seed: int = SEED) -> list[Envelope]:
    rng = random.Random(seed)
    paths = PricePaths(rng)
    envelopes = (
        gen_prices(rng, paths)
        + gen_funding(rng, paths)
        + gen_open_interest(rng, paths)
        + gen_long_short(rng)
        + gen_liquidations(rng, paths)
        + gen_flows(rng)
    )
    envelopes.sort(key=_sort_key)
    return envelopes


def write(envelopes: list[Envelope], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for env in envelopes:
            fh.write(json.dumps(env, separators=(",", ":")) + "\n")


# --------------------------------------------------------------------------- check

# What every line must satisfy comes from the contract (lcm/contract.py): field names,
# presence, JSON types and enumerations. The checks after it are the sample's own.
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}
HEX_TX = re.compile(r"^0x[0-9a-f]{64}$")
HEX_ADDR = re.compile(r"^0x[0-9a-f]{40}$")


def _is(value: Any, typ: type) -> bool:
    if typ is bool:
        return isinstance(value, bool)
    return isinstance(value, typ) and not isinstance(value, bool)


def _check_fields(topic: str, v: Msg, err: Callable[[str], None]) -> bool:
    """The contract's fields: none missing, none extra, each of its JSON type (a bool is
    no number) and enumeration. False if a type is wrong."""
    fields = {f.name: f for f in MARKET_TOPICS[topic].fields}
    for key in sorted(k for k, f in fields.items() if f.required and k not in v):
        err(f"missing field {key!r}")
    for key in sorted(set(v) - set(fields)):
        err(f"unexpected field {key!r}")
    typed = True
    for key, f in fields.items():
        value = v.get(key)
        if key not in v or (value is None and f.nullable):
            continue
        if (isinstance(value, bool) != (f.type == "boolean")
                or not isinstance(value, JSON_TYPES[f.type])):
            err(f"{key!r} should be a JSON {f.type}, got {value!r}")
            typed = False
        elif f.enum is not None and value not in f.enum:
            err(f"{key!r} should be one of {f.enum}, got {value!r}")
    return typed


def _check_value(topic: str, v: Msg, err: Callable[[str], None]) -> None:
    flows = topic == STABLECOIN_FLOWS
    typed = _check_fields(topic, v, err)
    for key in ("ts", "ingest_ts"):
        if not _is(v.get(key), int):
            err(f"{key!r} should be int epoch ms")
            return
    ts = v["ts"]
    if not START_MS <= ts < END_MS:
        err(f"ts {ts} outside the sample span")
    if ts % MINUTE_MS == 0:
        err(f"ts {ts} sits exactly on a minute boundary")
    if not 0 < v["ingest_ts"] - ts < 1_000:
        err("ingest_ts should be a few hundred ms after ts")
    if flows:
        _check_flow(v, err)
        return
    if v.get("exchange") not in VENUES:
        err(f"unknown exchange {v.get('exchange')!r}")
    elif v.get("base") not in ASSETS:
        err(f"unknown base {v.get('base')!r}")
    elif v.get("symbol") != venue_symbol(v["exchange"], v["base"]):
        err(f"symbol {v.get('symbol')!r} is not the venue's spelling")
    if not typed:
        return  # already reported; the value checks below need the right types
    if topic == FUNDING_RATES:
        want = FUNDING_INTERVAL_H.get(v["exchange"])
        if v["interval_hours"] != want:
            err(f"interval_hours should be {want}")
        rate8 = v["funding_rate"] * 8 / v["interval_hours"]
        if not 0.00005 - 1e-9 <= rate8 <= 0.0004 + 1e-9:
            err(f"funding {v['funding_rate']} outside 0.00005-0.0004 per 8h")
    elif topic == OPEN_INTEREST:
        if v["oi_base"] <= 0 or v["oi_usd"] <= 0:
            err("open interest must be positive")
    elif topic == LIQUIDATIONS:
        if v["side"] not in ("long", "short"):
            err(f"side {v['side']!r}")
        if abs(v["notional_usd"] - v["price"] * v["qty"]) > 0.011:
            err("notional_usd != price * qty")
    elif topic == LONG_SHORT_RATIO:
        if v["exchange"] not in LSR_VENUES:
            err("no long/short ratio for this venue")
        if abs(v["long_share"] + v["short_share"] - 1.0) > 1e-9:
            err("long_share + short_share != 1")
        if abs(v["ratio"] - v["long_share"] / v["short_share"]) > 1e-4:
            err("ratio != long_share / short_share")
        if v["population"] not in ("accounts", "top_positions"):
            err(f"population {v['population']!r}")


def _check_flow(v: Msg, err: Callable[[str], None]) -> None:
    if v.get("chain") != "ethereum":
        err("chain should be 'ethereum'")
    if not (v.get("token") == v.get("symbol") == v.get("base") and v.get("token") in FLOW_TOKENS):
        err("token/symbol/base should all be USDT or USDC")
    if not HEX_TX.match(str(v.get("tx_hash"))):
        err("tx_hash is not 0x + 64 lowercase hex")
    for key in ("from", "to"):
        if not HEX_ADDR.match(str(v.get(key))):
            err(f"{key!r} is not 0x + 40 lowercase hex")
    if "exchange_label" not in v:
        err("missing field 'exchange_label'")
    label = v.get("exchange_label")
    if label is not None and not isinstance(label, str):
        err("exchange_label should be a string or null")
    src, dst = EXCHANGE_WALLETS.get(v.get("from", "")), EXCHANGE_WALLETS.get(v.get("to", ""))
    expected = {
        "inflow": not src and dst and label == dst,
        "outflow": src and not dst and label == src,
        "internal": src and dst and label == dst,
    }
    if not expected.get(v.get("direction", "")):
        err(f"direction/exchange_label {v.get('direction')!r}/{label!r} do not fit from/to")
    if not _is(v.get("amount_usd"), float) or v["amount_usd"] <= 0:
        err("amount_usd should be a positive float")


def check(path: Path) -> Counter[str]:
    """Validate the file; return line counts per topic or exit with the errors."""
    errors: list[str] = []
    counts: Counter[str] = Counter()
    dedup: Counter[tuple[str, str]] = Counter()
    per_minute: Counter[tuple[str, str, str, int]] = Counter()
    prev: tuple[int, str] | None = None
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):

            def err(msg: str, lineno: int = lineno) -> None:
                errors.append(f"{path.name}:{lineno}: {msg}")

            try:
                env = json.loads(line)
            except json.JSONDecodeError as exc:
                err(f"not JSON: {exc}")
                continue
            if not isinstance(env, dict) or set(env) != {"topic", "value"}:
                err('envelope must be exactly {"topic": ..., "value": {...}}')
                continue
            topic, value = env["topic"], env["value"]
            if topic not in MARKET_TOPICS or not isinstance(value, dict):
                err(f"unknown topic {topic!r} or non-object value")
                continue
            counts[topic] += 1
            _check_value(topic, value, err)
            if not _is(value.get("ts"), int):
                continue
            key = (value["ts"], topic)
            if prev is not None and key < prev:
                err("lines not sorted by (ts, topic)")
            prev = key
            minute = (value["ts"] - START_MS) // MINUTE_MS
            who = str(value.get("exchange") or value.get("chain"))
            per_minute[(topic, who, str(value.get("base")), minute)] += 1
            if topic == LIQUIDATIONS:
                dedup[("liq", str(value.get("id")))] += 1
            elif topic == STABLECOIN_FLOWS:
                dedup[("flow", f"{value.get('tx_hash')}:{value.get('log_index')}")] += 1
    errors += [f"duplicate dedup key {k}" for k, n in dedup.items() if n > 1]
    cadence = {PRICES: (VENUES, 6), FUNDING_RATES: (VENUES, 1)}
    cadence |= {OPEN_INTEREST: (VENUES, 1), LONG_SHORT_RATIO: (LSR_VENUES, 1)}
    for topic, (venues, want) in cadence.items():
        for venue in venues:
            for asset in ASSETS:
                for minute in range(MINUTES):
                    got = per_minute[(topic, venue, asset, minute)]
                    if got != want:
                        errors.append(f"{topic} {venue} {asset} minute {minute}: {got} != {want}")
    if errors:
        sys.exit("sample check FAILED:\n" + "\n".join(errors[:50]))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .jsonl path")
    parser.add_argument(
        "--check", action="store_true", help="only validate the existing file, do not write"
    )
    args = parser.parse_args(argv)
    if not args.check:
        write(generate(), args.out)
    counts = check(args.out)
    for topic in DATA_TOPICS:
        print(f"{topic:18} {counts[topic]:5d}")
    print(f"{'total':18} {sum(counts.values()):5d}  ({args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

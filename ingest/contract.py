"""One builder per topic of the message contract (docs/contract.md, defined in
lcm/contract.py, whose bounds and enumerations the builders check).

Sources parse venue payloads into these builders and nothing else, so every message that
reaches Kafka has the same fields, units and checks whatever the venue. Numbers are parsed
from the venue's strings as Decimal (exact; no binary rounding of "0.00038246") and become
floats only when the builder returns the JSON-ready dict. A payload that cannot be
normalized raises PayloadError; the caller sends the raw text to the dead-letter topic.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from lcm import contract
from lcm.contract import MAX_TS_MS, MIN_TS_MS, Direction, Population, Side
from lcm.topics import (
    FUNDING_RATES,
    LIQUIDATIONS,
    LONG_SHORT_RATIO,
    OPEN_INTEREST,
    PRICES,
    STABLECOIN_FLOWS,
)

__all__ = ["MAX_TS_MS", "MIN_TS_MS", "Direction", "Population", "Side"]  # re-exported

MAX_FUNDING_PER_INTERVAL = Decimal(str(contract.MAX_FUNDING_PER_INTERVAL))
MAX_INTERVAL_HOURS = Decimal(contract.MAX_INTERVAL_HOURS)
SHARE_SUM_TOLERANCE = Decimal(str(contract.SHARE_SUM_TOLERANCE))
ONE = Decimal(1)


class PayloadError(ValueError):
    """An upstream payload that cannot be normalized; the reason names field and place.
    `raw`/`where` are set by the clients (RestClient, WsStream) that hold the raw text."""

    def __init__(self, reason: str, raw: str | None = None, where: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw
        self.where = where


# ---------------------------------------------------------------- parsing helpers

def loads(raw: str | bytes, where: str = "") -> Any:
    """JSON with every non-integer number as an exact Decimal (venues that send JSON
    numbers, e.g. CoinGecko, keep their digits as written)."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{where or 'payload'}: not JSON ({exc})") from None


def dec(value: Any, field: str, where: str = "") -> Decimal:
    """A finite Decimal from a venue's number: a decimal string ("0.00038246"), an int, a
    Decimal, or a float (taken by its shortest repr, i.e. the digits the JSON had)."""
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"{where}: {field}: expected a number, got {value!r}")
    try:
        if isinstance(value, Decimal):
            out = value
        elif isinstance(value, int):
            out = Decimal(value)
        elif isinstance(value, float):
            out = Decimal(repr(value))
        elif isinstance(value, str):
            out = Decimal(value.strip())
        else:
            raise PayloadError(f"{where}: {field}: expected a number, got {type(value).__name__}")
    except InvalidOperation:
        raise PayloadError(f"{where}: {field}: not a number: {value!r}") from None
    if not out.is_finite():
        raise PayloadError(f"{where}: {field}: not finite: {value!r}")
    return out


def opt_dec(value: Any, field: str, where: str = "") -> Decimal | None:
    """dec(), but None or "" (how venues say 'no value') give None."""
    if value is None or value == "":
        return None
    return dec(value, field, where)


def req(obj: Any, key: str, where: str = "") -> Any:
    """obj[key] of a JSON object, or a PayloadError naming the missing key."""
    if not isinstance(obj, dict):
        raise PayloadError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise PayloadError(f"{where}: {key}: missing")
    return obj[key]


def ts_ms(value: Any, field: str, where: str = "",
          unit: Literal["ms", "s", "iso", "hex_s"] = "ms") -> int:
    """Event time in epoch ms from the source's spelling of it: ms int or digit string
    (Binance, Bybit, OKX), seconds (CoinGecko, Etherscan tokentx), ISO-8601 (dYdX) or a
    hex string of seconds (Etherscan getLogs)."""
    try:
        if unit == "iso":
            if not isinstance(value, str):
                raise ValueError
            out = int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        elif unit == "hex_s":
            if not isinstance(value, str) or not value.lower().startswith("0x"):
                raise ValueError
            out = int(value, 16) * 1000
        else:
            if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
                raise ValueError
            number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
            out = int(number * 1000) if unit == "s" else int(number)
    except (ValueError, InvalidOperation, OverflowError):
        raise PayloadError(f"{where}: {field}: not a time in {unit}: {value!r}") from None
    if not MIN_TS_MS <= out < MAX_TS_MS:
        raise PayloadError(f"{where}: {field}: {value!r} is not epoch {unit} between 2010 and 2100")
    return out


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------- asset names

# Venues' other names for the same asset.
BASE_ALIASES = {"XBT": "BTC"}
# Multiplied contracts: 1000PEPE, 1000000MOG, 1MBABYDOGE (one contract unit = that many coins).
_MULTIPLIED = re.compile(r"^(1(?:0{3,})|1M)([A-Z][A-Z0-9]*)$")


def split_base(raw: str) -> tuple[str, Decimal]:
    """(base, multiplier): the venue's base-asset name -> one name across venues and how
    many coins one unit of the venue's asset is. 1000PEPE -> (PEPE, 1000), Hyperliquid
    kPEPE -> (PEPE, 1000), XBT -> (BTC, 1), 1INCH -> (1INCH, 1)."""
    if not isinstance(raw, str) or not raw.strip():
        raise PayloadError(f"base: expected an asset name, got {raw!r}")
    name = raw.strip()
    mult = ONE
    if len(name) > 1 and name[0] == "k" and name[1:].isupper():  # Hyperliquid kPEPE = 1000 PEPE
        name, mult = name[1:], Decimal(1000)
    name = name.upper()
    m = _MULTIPLIED.match(name)
    if m:
        prefix, name = m.groups()
        mult *= Decimal(1_000_000) if prefix == "1M" else Decimal(prefix)
    return BASE_ALIASES.get(name, name), mult


def normalize_base(raw: str) -> str:
    """One base-asset name across venues (see split_base for the multiplier)."""
    return split_base(raw)[0]


def liquidated_side_from_order(order_side: str, where: str = "") -> Side:
    """Venues that report the liquidation ORDER's side (Binance forceOrder "S", dYdX
    taker side): the engine SELLs to close a long, so SELL -> a long was liquidated."""
    s = str(order_side).lower()
    if s in ("sell", "s"):
        return "long"
    if s in ("buy", "b"):
        return "short"
    raise PayloadError(f"{where}: side: expected buy/sell, got {order_side!r}")


def liquidated_side_from_position(position_side: str, where: str = "") -> Side:
    """Venues that report the liquidated POSITION's side (Bybit allLiquidation "S":
    Buy = a long position; OKX posSide long/short)."""
    s = str(position_side).lower()
    if s in ("buy", "long"):
        return "long"
    if s in ("sell", "short"):
        return "short"
    raise PayloadError(f"{where}: side: expected buy/sell or long/short, got {position_side!r}")


# ---------------------------------------------------------------- builders

def _num(value: Any, field: str, where: str, *, low: Decimal | None = None,
         high: Decimal | None = None, low_open: bool = False) -> Decimal:
    d = dec(value, field, where)
    if low is not None and (d < low or (low_open and d == low)):
        raise PayloadError(f"{where}: {field}: {d} is {'not above' if low_open else 'below'} {low}")
    if high is not None and d > high:
        raise PayloadError(f"{where}: {field}: {d} is above {high}")
    return d


def _common(topic: str, exchange: str, symbol: str, base: str, ts: int,
            ingest_ts: int | None, where: str) -> dict[str, Any]:
    """The fields every market-data message starts with (`chain` instead of `exchange`
    for flows)."""
    venue_field = contract.venue_field(topic)
    for field, value in ((venue_field, exchange), ("symbol", symbol), ("base", base)):
        if not isinstance(value, str) or not value:
            raise PayloadError(f"{where}: {field}: missing or empty ({value!r})")
    if isinstance(ts, bool) or not isinstance(ts, int) or not MIN_TS_MS <= ts < MAX_TS_MS:
        raise PayloadError(f"{where}: ts: {ts!r} is not epoch ms between 2010 and 2100")
    return {venue_field: exchange, "symbol": symbol, "base": base, "ts": ts,
            "ingest_ts": now_ms() if ingest_ts is None else ingest_ts}


def price_msg(exchange: str, symbol: str, base: str, ts: int, price: Any, *,
              volume_24h_usd: Any = None, multiplier: Decimal = ONE,
              ingest_ts: int | None = None, where: str = "") -> dict[str, Any]:
    """prices: price per ONE coin of `base` (a 1000PEPE price is divided by 1000)."""
    msg = _common(PRICES, exchange, symbol, base, ts, ingest_ts, where)
    msg["price"] = float(_num(price, "price", where, low=Decimal(0), low_open=True) / multiplier)
    if volume_24h_usd is not None:
        msg["volume_24h_usd"] = float(_num(volume_24h_usd, "volume_24h_usd", where, low=Decimal(0)))
    return msg


def funding_msg(exchange: str, symbol: str, base: str, ts: int, funding_rate: Any,
                interval_hours: Any, *, mark_price: Any = None, multiplier: Decimal = ONE,
                ingest_ts: int | None = None, where: str = "") -> dict[str, Any]:
    """funding_rates: the rate per funding interval of THIS symbol (Hyperliquid and dYdX
    1 h, others 1-8 h per symbol) and that interval; the job makes it 8-hour-equivalent."""
    msg = _common(FUNDING_RATES, exchange, symbol, base, ts, ingest_ts, where)
    rate = _num(funding_rate, "funding_rate", where)
    if abs(rate) > MAX_FUNDING_PER_INTERVAL:
        raise PayloadError(f"{where}: funding_rate: {rate} is beyond "
                           f"±{(MAX_FUNDING_PER_INTERVAL * 100).normalize()} % per interval")
    hours = _num(interval_hours, "interval_hours", where, low=Decimal(0), low_open=True,
                 high=MAX_INTERVAL_HOURS)
    msg["funding_rate"] = float(rate)
    msg["interval_hours"] = int(hours) if hours == hours.to_integral_value() else float(hours)
    msg["mark_price"] = (None if mark_price is None else float(
        _num(mark_price, "mark_price", where, low=Decimal(0), low_open=True) / multiplier))
    return msg


def oi_msg(exchange: str, symbol: str, base: str, ts: int, *, oi_base: Any = None,
           oi_usd: Any = None, price: Any = None, multiplier: Decimal = ONE,
           ingest_ts: int | None = None, where: str = "") -> dict[str, Any]:
    """open_interest in coins of `base` and in USD. Give both, or one of them and the
    price of one venue unit (the other is derived); oi_base is in the venue's units
    (multiplied by `multiplier` into coins)."""
    msg = _common(OPEN_INTEREST, exchange, symbol, base, ts, ingest_ts, where)
    zero = Decimal(0)
    coins = None if oi_base is None else _num(oi_base, "oi_base", where, low=zero)
    usd = None if oi_usd is None else _num(oi_usd, "oi_usd", where, low=zero)
    if coins is None or usd is None:
        if price is None:
            raise PayloadError(f"{where}: open interest needs oi_base and oi_usd, or a price")
        px = _num(price, "price", where, low=zero, low_open=True)
        if coins is None and usd is None:
            raise PayloadError(f"{where}: open interest: neither oi_base nor oi_usd given")
        if usd is None:
            usd = coins * px
        else:
            coins = usd / px
    msg["oi_base"] = float(coins * multiplier)
    msg["oi_usd"] = float(usd)
    return msg


def liquidation_msg(exchange: str, symbol: str, base: str, ts: int, side: Side, price: Any,
                    qty: Any, *, notional_usd: Any = None, dedup_key: str | None = None,
                    sampled: bool = False, multiplier: Decimal = ONE,
                    ingest_ts: int | None = None, where: str = "") -> dict[str, Any]:
    """liquidations: side 'long' = a LONG position was liquidated (use
    liquidated_side_from_order / _from_position to map the venue's convention); qty in
    the venue's base units (contracts converted by the caller), price per venue unit.
    `id` is the venue's id when it has one, else exchange:symbol:ts:side:raw qty, so a
    replay counts once. sampled=True marks feeds that push at most one liquidation per
    symbol per interval (Binance, OKX): their sums are lower bounds."""
    if side not in contract.SIDES:
        raise PayloadError(f"{where}: side: must be 'long' or 'short', got {side!r}")
    msg = _common(LIQUIDATIONS, exchange, symbol, base, ts, ingest_ts, where)
    zero = Decimal(0)
    px = _num(price, "price", where, low=zero, low_open=True)
    q = _num(qty, "qty", where, low=zero, low_open=True)
    notional = px * q if notional_usd is None else _num(notional_usd, "notional_usd", where,
                                                        low=zero)
    msg["id"] = dedup_key or f"{exchange}:{symbol}:{ts}:{side}:{q}"
    msg["side"] = side
    msg["price"] = float(px / multiplier)
    msg["qty"] = float(q * multiplier)
    msg["notional_usd"] = float(notional)
    msg["sampled"] = sampled
    return msg


def long_short_msg(exchange: str, symbol: str, base: str, ts: int, population: Population, *,
                   long_share: Any = None, short_share: Any = None, ratio: Any = None,
                   ingest_ts: int | None = None, where: str = "") -> dict[str, Any]:
    """long_short_ratio: share of accounts (or top positions) net long / short and their
    ratio. Any one of the three is enough (OKX gives only the ratio)."""
    if population not in contract.POPULATIONS:
        raise PayloadError(f"{where}: population: must be accounts or top_positions, "
                           f"got {population!r}")
    msg = _common(LONG_SHORT_RATIO, exchange, symbol, base, ts, ingest_ts, where)
    zero = Decimal(0)
    lo = None if long_share is None else _num(long_share, "long_share", where, low=zero, high=ONE)
    sh = None if short_share is None else _num(short_share, "short_share", where, low=zero,
                                                high=ONE)
    r = None if ratio is None else _num(ratio, "ratio", where, low=zero)
    if lo is None and sh is None:
        if r is None:
            raise PayloadError(f"{where}: long/short needs long_share, short_share or ratio")
        lo = r / (1 + r)
    if lo is None:
        lo = 1 - sh
    if sh is None:
        sh = 1 - lo
    if abs(lo + sh - 1) > SHARE_SUM_TOLERANCE:
        raise PayloadError(f"{where}: long_share {lo} + short_share {sh} is not 1")
    if r is None:
        if sh == 0:
            raise PayloadError(f"{where}: short_share is 0: the ratio is undefined")
        r = lo / sh
    msg.update(long_share=float(lo), short_share=float(sh), ratio=float(r), population=population)
    return msg


def flow_msg(chain: str, token: str, ts: int, *, tx_hash: str, log_index: int, amount_usd: Any,
             from_addr: str, to_addr: str, direction: Direction, exchange_label: str | None,
             ingest_ts: int | None = None, where: str = "") -> dict[str, Any]:
    """stablecoin_flows: one transfer (tx_hash + log_index identify it) classified against
    the exchange-address list; key `<chain>:<token>`."""
    if direction not in contract.DIRECTIONS:
        raise PayloadError(f"{where}: direction: must be inflow/outflow/internal, "
                           f"got {direction!r}")
    if not isinstance(tx_hash, str) or not tx_hash.startswith("0x"):
        raise PayloadError(f"{where}: tx_hash: expected 0x..., got {tx_hash!r}")
    if isinstance(log_index, bool) or not isinstance(log_index, int) or log_index < 0:
        raise PayloadError(f"{where}: log_index: expected an integer >= 0, got {log_index!r}")
    msg = _common(STABLECOIN_FLOWS, chain, token, token, ts, ingest_ts, where)
    msg.update(token=token, tx_hash=tx_hash.lower(), log_index=log_index,
               amount_usd=float(_num(amount_usd, "amount_usd", where, low=Decimal(0))),
               **{"from": from_addr.lower(), "to": to_addr.lower()},
               direction=direction, exchange_label=exchange_label)
    return msg


def dead_letter_msg(source: str, reason: str, raw: str, where: str) -> dict[str, Any]:
    """ingest_dead_letter, shape `ingest`: a payload a source could not normalize, with
    the reason and the raw text (Kafka, a recording's or backfill's dead_letters.jsonl)."""
    return {"source": source, "reason": reason, "raw": raw, "ts": now_ms(), "where": where}


# topic -> builder, for code that dispatches on the topic name
BUILDERS = {
    PRICES: price_msg, FUNDING_RATES: funding_msg, OPEN_INTEREST: oi_msg,
    LIQUIDATIONS: liquidation_msg, LONG_SHORT_RATIO: long_short_msg,
    STABLECOIN_FLOWS: flow_msg,
}


# The field that only one topic's messages have.
_TOPIC_MARKERS = (("funding_rate", FUNDING_RATES), ("oi_base", OPEN_INTEREST),
                  ("long_share", LONG_SHORT_RATIO), ("tx_hash", STABLECOIN_FLOWS),
                  ("notional_usd", LIQUIDATIONS), ("price", PRICES))


def topic_of(msg: dict[str, Any]) -> str:
    """The topic a builder's message belongs to (for iterators that yield bare messages)."""
    for marker, topic in _TOPIC_MARKERS:
        if marker in msg:
            return topic
    raise PayloadError(f"no topic has the fields {sorted(msg)}")

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
from lcm.names import asset_name_problem
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

# Bounds on what a venue, a chain or a file may send (docs/sources.md, "Limits"). Past them
# a payload is refused with a PayloadError, before any work that grows with the value.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024  # one HTTP body (Binance exchangeInfo is ~2 MB)
MAX_FRAME_BYTES = 1024 * 1024  # one WebSocket frame (venues push < 100 kB)
MAX_DEPTH = 64  # nesting of JSON arrays and objects (venues use fewer than 8)
MAX_NUMBER_CHARS = 64  # a number written as text
MAX_DIGITS = 40  # significant digits of a number
MAX_EXPONENT = 30  # a number is 0 or between 1e-30 and 1e31 in magnitude
MAX_TEXT_CHARS = 200  # an id, a symbol, a hash written into a message
MAX_ROWS = 5000  # items of one array in a payload (the largest venue answer has ~1000)
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{1,64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,40}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,6})?")
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abAB]|\\u[dD][c-fC-F]")
_JSON_CONSTANTS = {"NaN", "Infinity", "-Infinity"}


def short(value: Any, limit: int = 80) -> str:
    """repr(value) cut to `limit` characters, for error messages about hostile values."""
    try:
        text = repr(value)
    except Exception:  # a reason must always be written
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


def _depth_over(raw: bytes, limit: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than `limit`. Linear and in C:
    strings are dropped (their brackets do not count), then innermost pairs are removed
    once per level."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(brackets):
            return False  # unbalanced: json.loads says what is wrong
        brackets = shorter
    return bool(brackets)


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: str | bytes, where: str = "") -> Any:
    """JSON with every non-integer number as an exact Decimal (venues that send JSON
    numbers, e.g. CoinGecko, keep their digits as written). Refused with a PayloadError:
    more than MAX_PAYLOAD_BYTES, nesting deeper than MAX_DEPTH, NaN/Infinity, invalid
    UTF-8 or lone surrogates, and anything that is not JSON."""
    where = where or "payload"
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"{where}: {len(data)} bytes, over the {MAX_PAYLOAD_BYTES}-byte "
                           "limit")
    if _depth_over(data, MAX_DEPTH):
        raise PayloadError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    try:
        doc = json.loads(data, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, ArithmeticError, RecursionError) as exc:  # Decimal: InvalidOperation
        raise PayloadError(f"{where}: not JSON ({short(str(exc), 200)})") from None
    if _SURROGATE_ESCAPE.search(data):  # valid pairs decode; a lone half does not encode
        try:
            json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError(f"{where}: not JSON (a lone UTF-16 surrogate in a string)"
                               ) from None
    return doc


def _bounded(out: Decimal, value: Any, field: str, where: str) -> Decimal:
    if not out.is_finite():
        raise PayloadError(f"{where}: {field}: not finite: {short(value)}")
    if not out:
        return Decimal(0)  # 0E+999999 is 0: no exponent left to overflow later
    if len(out.as_tuple().digits) > MAX_DIGITS:
        raise PayloadError(f"{where}: {field}: more than {MAX_DIGITS} digits: {short(value)}")
    if not -MAX_EXPONENT <= out.adjusted() <= MAX_EXPONENT:
        raise PayloadError(f"{where}: {field}: {short(value)} is outside "
                           f"1e-{MAX_EXPONENT}..1e{MAX_EXPONENT + 1}")
    return out


def dec(value: Any, field: str, where: str = "") -> Decimal:
    """A finite Decimal from a venue's number: a decimal string ("0.00038246"), an int, a
    Decimal, or a float (taken by its shortest repr, i.e. the digits the JSON had). At most
    MAX_DIGITS digits, 0 or a magnitude within 1e-30..1e31; ASCII digits only."""
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"{where}: {field}: expected a number, got {short(value)}")
    try:
        if isinstance(value, Decimal):
            out = value
        elif isinstance(value, int):
            if value.bit_length() > 128:
                raise PayloadError(f"{where}: {field}: {value.bit_length()}-bit integer is "
                                   "too large")
            out = Decimal(value)
        elif isinstance(value, float):
            out = Decimal(repr(value))
        elif isinstance(value, str):
            text = value.strip()
            if len(text) > MAX_NUMBER_CHARS or not _NUMBER.fullmatch(text):
                raise PayloadError(f"{where}: {field}: not a number: {short(value)}")
            out = Decimal(text)
        else:
            raise PayloadError(f"{where}: {field}: expected a number, got "
                               f"{type(value).__name__}")
    except InvalidOperation:
        raise PayloadError(f"{where}: {field}: not a number: {short(value)}") from None
    return _bounded(out, value, field, where)


def opt_dec(value: Any, field: str, where: str = "") -> Decimal | None:
    """dec(), but None or "" (how venues say 'no value') give None."""
    if value is None or value == "":
        return None
    return dec(value, field, where)


def int_of(value: Any, field: str, where: str = "", *, low: int | None = None,
           high: int | None = None) -> int:
    """An integer from a venue (a block height, a count, a page number): an int, a digit
    string of at most 20 digits, or an integral Decimal of at most 20 digits; within
    [low, high] when given. Never converts a huge exponent (1e9999999) into an int."""
    if isinstance(value, bool):
        raise PayloadError(f"{where}: {field}: expected an integer, got {short(value)}")
    if isinstance(value, int):
        out = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        out = int(value.strip())
    elif isinstance(value, Decimal) and value.is_finite() and (
            not value or value.adjusted() < 20) and value == value.to_integral_value():
        out = int(value)
    else:
        raise PayloadError(f"{where}: {field}: not an integer: {short(value)}")
    if (low is not None and out < low) or (high is not None and out > high):
        raise PayloadError(f"{where}: {field}: {short(value)} is outside {low}..{high}")
    return out


def text_of(value: Any, field: str, where: str = "", *, max_chars: int = MAX_TEXT_CHARS
            ) -> str:
    """A string a message carries (an id, a symbol, a hash): 1..max_chars characters, no
    control characters, writable as UTF-8."""
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{where}: {field}: missing or not a string ({short(value)})")
    if len(value) > max_chars:
        raise PayloadError(f"{where}: {field}: {len(value)} characters (at most "
                           f"{max_chars}): {short(value)}")
    if not value.isprintable():
        raise PayloadError(f"{where}: {field}: control or unprintable characters: "
                           f"{short(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError(f"{where}: {field}: not valid Unicode: {short(value)}") from None
    return value


def req(obj: Any, key: str, where: str = "") -> Any:
    """obj[key] of a JSON object, or a PayloadError naming the missing key."""
    if not isinstance(obj, dict):
        raise PayloadError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise PayloadError(f"{where}: {key}: missing")
    return obj[key]


def array(value: Any, field: str, where: str = "", *, max_rows: int | None = None
          ) -> list[Any]:
    """A JSON array (a list) of at most MAX_ROWS items (no venue answer has more; one that does is
    refused whole rather than parsed row by row), or a PayloadError."""
    if not isinstance(value, list):
        raise PayloadError(f"{where}: {field}: expected a list, got {type(value).__name__}")
    limit = MAX_ROWS if max_rows is None else max_rows
    if len(value) > limit:
        raise PayloadError(f"{where}: {field}: {len(value)} items, over the {limit}-item "
                           "limit")
    return value


def req_str(obj: Any, key: str, where: str = "", *, max_chars: int = 64) -> str:
    """obj[key] as a name (a symbol, an instrument id) that can be looked up: a string of
    1..max_chars printable characters, or a PayloadError."""
    return text_of(req(obj, key, where), key, where, max_chars=max_chars)


def lookup(mapping: dict[str, Any], key: Any) -> Any:
    """mapping.get(key), None for a key that is not a string (a venue sending a list or
    an object where a symbol belongs must not raise TypeError in a dict lookup)."""
    return mapping.get(key) if isinstance(key, str) else None


def ts_ms(value: Any, field: str, where: str = "",
          unit: Literal["ms", "s", "iso", "hex_s"] = "ms") -> int:
    """Event time in epoch ms from the source's spelling of it: ms int or digit string
    (Binance, Bybit, OKX), seconds (CoinGecko, Etherscan tokentx), ISO-8601 (dYdX) or a
    hex string of seconds (Etherscan getLogs). Only 2010..2100 is accepted; the value is
    bounded before any conversion (a 1e9999999 is refused, not computed)."""
    try:
        if unit == "iso":
            if not isinstance(value, str) or len(value) > 40:
                raise ValueError
            out = int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        elif unit == "hex_s":
            if (not isinstance(value, str) or not value.lower().startswith("0x")
                    or len(value) > 18):
                raise ValueError
            out = int(value, 16) * 1000
        else:
            if isinstance(value, bool) or not isinstance(value, int | str | Decimal | float):
                raise ValueError
            number = dec(value, field, where)
            if number.adjusted() > 15 or number < 0:  # past 2100 in any unit: no int()
                raise PayloadError(f"{where}: {field}: {short(value)} is not epoch {unit} "
                                   "between 2010 and 2100")
            out = int(number * 1000) if unit == "s" else int(number)
    except (ValueError, InvalidOperation, OverflowError, OSError):
        raise PayloadError(f"{where}: {field}: not a time in {unit}: {short(value)}") from None
    if not MIN_TS_MS <= out < MAX_TS_MS:
        raise PayloadError(f"{where}: {field}: {short(value)} is not epoch {unit} between "
                           "2010 and 2100")
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
    kPEPE -> (PEPE, 1000), XBT -> (BTC, 1), 1INCH -> (1INCH, 1). The name must be an asset
    name (lcm.names: letters and digits of any script, `._-`, at most 32 characters)."""
    if not isinstance(raw, str) or not raw.strip():
        raise PayloadError(f"base: expected an asset name, got {short(raw)}")
    name = raw.strip()
    if problem := asset_name_problem(name):
        raise PayloadError(f"base: {short(name)} is not an asset name: {problem}")
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
    s = order_side.lower() if isinstance(order_side, str) else None
    if s in ("sell", "s"):
        return "long"
    if s in ("buy", "b"):
        return "short"
    raise PayloadError(f"{where}: side: expected buy/sell, got {short(order_side)}")


def liquidated_side_from_position(position_side: str, where: str = "") -> Side:
    """Venues that report the liquidated POSITION's side (Bybit allLiquidation "S":
    Buy = a long position; OKX posSide long/short)."""
    s = position_side.lower() if isinstance(position_side, str) else None
    if s in ("buy", "long"):
        return "long"
    if s in ("sell", "short"):
        return "short"
    raise PayloadError(f"{where}: side: expected buy/sell or long/short, got "
                       f"{short(position_side)}")


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
            raise PayloadError(f"{where}: {field}: missing or empty ({short(value)})")
    text_of(exchange, venue_field, where, max_chars=40)
    text_of(symbol, "symbol", where, max_chars=64)
    if problem := asset_name_problem(base):
        raise PayloadError(f"{where}: base: {short(base)} is not an asset name: {problem}")
    if isinstance(ts, bool) or not isinstance(ts, int) or not MIN_TS_MS <= ts < MAX_TS_MS:
        raise PayloadError(f"{where}: ts: {short(ts)} is not epoch ms between 2010 and 2100")
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
        raise PayloadError(f"{where}: side: must be 'long' or 'short', got {short(side)}")
    msg = _common(LIQUIDATIONS, exchange, symbol, base, ts, ingest_ts, where)
    zero = Decimal(0)
    px = _num(price, "price", where, low=zero, low_open=True)
    q = _num(qty, "qty", where, low=zero, low_open=True)
    notional = px * q if notional_usd is None else _num(notional_usd, "notional_usd", where,
                                                        low=zero)
    msg["id"] = text_of(dedup_key or f"{exchange}:{symbol}:{ts}:{side}:{q}", "id", where,
                        max_chars=256)
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
    if not isinstance(tx_hash, str) or not _TX_HASH.fullmatch(tx_hash):
        raise PayloadError(f"{where}: tx_hash: expected 0x + up to 64 hex digits, got "
                           f"{short(tx_hash)}")
    for field, addr in (("from", from_addr), ("to", to_addr)):
        if not isinstance(addr, str) or not _ADDRESS.fullmatch(addr):
            raise PayloadError(f"{where}: {field}: expected 0x + up to 40 hex digits, got "
                               f"{short(addr)}")
    if exchange_label is not None:
        text_of(exchange_label, "exchange_label", where, max_chars=100)
    if (isinstance(log_index, bool) or not isinstance(log_index, int)
            or not 0 <= log_index < 2 ** 32):
        raise PayloadError(f"{where}: log_index: expected an integer >= 0, got {short(log_index)}")
    msg = _common(STABLECOIN_FLOWS, chain, token, token, ts, ingest_ts, where)
    msg.update(token=token, tx_hash=tx_hash.lower(), log_index=log_index,
               amount_usd=float(_num(amount_usd, "amount_usd", where, low=Decimal(0))),
               **{"from": from_addr.lower(), "to": to_addr.lower()},
               direction=direction, exchange_label=exchange_label)
    return msg


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

"""Binance USD-M public data files (the data.binance.vision layout), read from LOCAL files.

The free way around the REST API's 30-day limit on open-interest and long/short history.
Download the zips yourself (no key) into one directory, keeping or flattening their
paths; this module finds them by file name:

- monthly fundingRate: <SYM>-fundingRate-YYYY-MM.zip,
  CSV calc_time,funding_interval_hours,last_funding_rate (ms, hours, rate per interval)
  -> funding_rates (no mark price in the file).
- daily metrics: <SYM>-metrics-YYYY-MM-DD.zip, 5-minute rows
  create_time ("YYYY-MM-DD HH:MM:SS" UTC),symbol,sum_open_interest (base),
  sum_open_interest_value (USD),count_toptrader_long_short_ratio,
  sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio
  -> open_interest, long_short_ratio population 'accounts' (count_long_short_ratio, the
  all-accounts ratio of globalLongShortAccountRatio) and 'top_positions'
  (sum_toptrader_long_short_ratio, topLongShortPositionRatio).
- markPriceKlines daily or monthly: markPriceKlines/<SYM>/<interval>/<SYM>-<interval>-
  YYYY-MM[-DD].zip, CSV open_time,open,high,low,close,volume,close_time,quote_volume,count,
  taker_buy_volume,taker_buy_quote_volume,ignore (older files have no header row)
  -> prices (close, at close_time).
Each zip holds one CSV of the same name. Rows that cannot be read are dead-lettered by
the caller with file and line; a file that is not a readable zip stops with DataFileError.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.contract import (
    PayloadError,
    funding_msg,
    long_short_msg,
    oi_msg,
    price_msg,
    split_base,
)
from lcm.topics import FUNDING_RATES, LONG_SHORT_RATIO, OPEN_INTEREST, PRICES

SOURCE = "binance-files"
EXCHANGE = "binance"
QUOTES = ("USDT", "USDC", "BUSD")
_NAME = re.compile(
    r"^(?P<sym>[A-Z0-9]+)-(?:(?P<kind>fundingRate|metrics)|(?P<interval>\d+[smhdwM]))-"
    r"(?P<date>\d{4}-\d{2}(?:-\d{2})?)\.(?:zip|csv)$")


class DataFileError(RuntimeError):
    pass


@dataclass(frozen=True)
class DataFile:
    path: Path
    symbol: str
    kind: str  # fundingRate | metrics | markPriceKlines
    start_ms: int
    end_ms: int

    def overlaps(self, a: int, b: int) -> bool:
        return self.start_ms < b and a < self.end_ms


def _period(text: str) -> tuple[int, int]:
    parts = [int(p) for p in text.split("-")]
    start = datetime(parts[0], parts[1], parts[2] if len(parts) == 3 else 1, tzinfo=UTC)
    if len(parts) == 3:
        end = start.timestamp() + 86_400
    else:
        y, m = (parts[0] + 1, 1) if parts[1] == 12 else (parts[0], parts[1] + 1)
        end = datetime(y, m, 1, tzinfo=UTC).timestamp()
    return int(start.timestamp() * 1000), int(end * 1000)


def classify(path: Path) -> DataFile | None:
    m = _NAME.match(path.name)
    if not m:
        return None
    if m["kind"]:
        kind = m["kind"]
    elif "markPriceKlines" in path.parts:
        kind = "markPriceKlines"
    else:
        return None  # trade klines, index klines...: not used
    start, end = _period(m["date"])
    return DataFile(path, m["sym"], kind, start, end)


def find_files(root: Path, start_ms: int, end_ms: int,
               symbols: Iterable[str] | None = None) -> list[DataFile]:
    wanted = {s.upper() for s in symbols} if symbols else None
    found = []
    for path in sorted(root.rglob("*")):
        f = classify(path) if path.is_file() else None
        if f and f.overlaps(start_ms, end_ms) and (wanted is None or f.symbol in wanted):
            found.append(f)
    return found


def base_of(symbol: str) -> tuple[str, Any]:
    for q in QUOTES:
        if symbol.endswith(q) and len(symbol) > len(q):
            return split_base(symbol[: -len(q)])
    raise PayloadError(f"symbol {symbol!r}: no known quote asset ({', '.join(QUOTES)})")


def _rows(f: DataFile) -> Iterator[tuple[int, list[str]]]:
    try:
        if f.path.suffix == ".zip":
            with zipfile.ZipFile(f.path) as z:
                names = [n for n in z.namelist() if n.endswith(".csv")]
                if not names:
                    raise DataFileError(f"{f.path}: no CSV inside")
                text = z.read(names[0]).decode("utf-8")
        else:
            text = f.path.read_text(encoding="utf-8")
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{f.path}: {exc}") from None
    yield from enumerate(csv.reader(io.StringIO(text)), 1)


def _ms(value: str) -> int:
    n = int(value)
    return n // 1000 if n > 10**14 else n  # newer files may use microseconds


def parse_file(f: DataFile) -> Iterator[tuple[str, dict[str, Any] | PayloadError]]:
    """(topic, message) per row, or ("", PayloadError) for a row that cannot be read."""
    base, mult = base_of(f.symbol)
    for n, row in _rows(f):
        if not row or not row[0][:1].isdigit():
            continue  # header row (present in newer files only)
        where = f"{f.path.name}:{n}"
        try:
            if f.kind == "fundingRate":
                ts = _ms(row[0])
                yield FUNDING_RATES, funding_msg(EXCHANGE, f.symbol, base, ts, row[2], row[1],
                                                   multiplier=mult, where=where)
            elif f.kind == "metrics":
                ts = int(datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S")
                         .replace(tzinfo=UTC).timestamp() * 1000)
                yield OPEN_INTEREST, oi_msg(EXCHANGE, f.symbol, base, ts, oi_base=row[2],
                                              oi_usd=row[3], multiplier=mult, where=where)
                if row[6]:
                    yield LONG_SHORT_RATIO, long_short_msg(
                        EXCHANGE, f.symbol, base, ts, "accounts", ratio=row[6], where=where)
                if row[5]:
                    yield LONG_SHORT_RATIO, long_short_msg(
                        EXCHANGE, f.symbol, base, ts, "top_positions", ratio=row[5],
                        where=where)
            else:
                yield PRICES, price_msg(EXCHANGE, f.symbol, base, _ms(row[6]), row[4],
                                          multiplier=mult, where=where)
        except PayloadError as exc:
            exc.raw, exc.where = ",".join(row), where
            yield "", exc
        except (IndexError, ValueError) as exc:
            yield "", PayloadError(f"{where}: unreadable row {row!r} ({exc})", raw=",".join(row),
                                   where=where)


_cache: dict[Path, list[tuple[str, Any]]] = {}
CACHE_FILES = 64  # monthly files span many days: parse each once


def messages(files: Iterable[DataFile]) -> Iterator[tuple[str, Any]]:
    """Every row of the files: (topic, message), or ("", PayloadError) for a bad row."""
    for f in files:
        if f.path not in _cache:
            if len(_cache) >= CACHE_FILES:
                _cache.pop(next(iter(_cache)))
            _cache[f.path] = list(parse_file(f))
        yield from _cache[f.path]

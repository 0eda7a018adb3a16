"""Per-asset aggregates from a plain CSV -> contract messages in a replayable JSONL file.

    python -m backtest.csv_import history.csv --bar 1d --out hist/daily.jsonl.gz

Years of hourly or daily history that users can get (their own exports, public datasets)
then backtest like a minute recording (docs/backtest.md). One row per asset and bar:

| column | meaning |
|---|---|
| time | bar start, ISO-8601 (UTC if no offset) or epoch milliseconds |
| asset | base asset, e.g. BTC |
| long_liq_usd, short_liq_usd | longs / shorts liquidated during the bar, USD (empty = no data) |
| oi_usd | open interest at the bar's close, USD |
| funding_8h | funding rate per 8 hours, decimal (0.0001 = 0.01 %) |
| long_short_ratio | accounts long / short (e.g. 1.8), optional |
| top_long_short_ratio | top traders' positions long / short, optional |
| price | close price, USD |
| inflow_usd, outflow_usd | stablecoins into / out of exchanges during the bar, optional |

Every message is stamped one millisecond before the bar's end (when the close values are
known), so a bar lands in exactly one window of the same length. Stablecoin columns are
market-wide: their sum over the assets of a bar is sent once. A row that cannot be read is
reported with its line number and left out; the import stops if more than --max-bad rows
are bad.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from ingest.contract import (
    PayloadError,
    flow_msg,
    funding_msg,
    liquidation_msg,
    long_short_msg,
    oi_msg,
    price_msg,
)
from lcm.topics import (
    FUNDING_RATES,
    LIQUIDATIONS,
    LONG_SHORT_RATIO,
    OPEN_INTEREST,
    PRICES,
    STABLECOIN_FLOWS,
)

REQUIRED = ("time", "asset", "long_liq_usd", "short_liq_usd", "oi_usd", "funding_8h", "price")
OPTIONAL = ("long_short_ratio", "top_long_short_ratio", "inflow_usd", "outflow_usd")
BARS = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}


class CsvError(ValueError):
    """A row or file that cannot be imported; the message names the file, line and column."""


def parse_time(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _num(row: dict[str, str], col: str, where: str, *, required: bool) -> float | None:
    raw = (row.get(col) or "").strip()
    if not raw:
        if required:
            raise CsvError(f"{where}: {col}: missing")
        return None
    try:
        value = float(raw)
    except ValueError:
        raise CsvError(f"{where}: {col}: not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise CsvError(f"{where}: {col}: not finite: {raw!r}")
    return value


def row_messages(row: dict[str, str], bar_minutes: int, venue: str,
                 where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(topic, message) of one CSV row, stamped 1 ms before the bar's end."""
    try:
        start = parse_time(row.get("time") or "")
    except ValueError:
        raise CsvError(f"{where}: time: not ISO-8601 or epoch ms: {row.get('time')!r}") from None
    ts = start + bar_minutes * 60_000 - 1
    asset = (row.get("asset") or "").strip().upper()
    if not asset:
        raise CsvError(f"{where}: asset: missing")
    price = _num(row, "price", where, required=True)
    oi = _num(row, "oi_usd", where, required=True)
    funding = _num(row, "funding_8h", where, required=False)
    sym, common = f"{asset}USD", {"ingest_ts": ts, "where": where}
    try:
        yield PRICES, price_msg(venue, sym, asset, ts, price, **common)
        yield OPEN_INTEREST, oi_msg(venue, sym, asset, ts, oi_usd=oi, price=price, **common)
        if funding is not None:
            yield FUNDING_RATES, funding_msg(venue, sym, asset, ts, funding, 8, **common)
        for col, population in (("long_short_ratio", "accounts"),
                                ("top_long_short_ratio", "top_positions")):
            ratio = _num(row, col, where, required=False)
            if ratio is not None:
                yield LONG_SHORT_RATIO, long_short_msg(venue, sym, asset, ts, population,
                                                         ratio=ratio, **common)
        for col, side in (("long_liq_usd", "long"), ("short_liq_usd", "short")):
            usd = _num(row, col, where, required=False)
            if usd:  # a bar without liquidations of a side sends none (a measured 0)
                yield LIQUIDATIONS, liquidation_msg(
                    venue, sym, asset, ts, side, price, usd / price, notional_usd=usd,
                    dedup_key=f"{venue}:{asset}:{start}:{side}", **common)
    except PayloadError as exc:
        raise CsvError(str(exc)) from None


def convert(src: Path, out: IO[bytes], bar_minutes: int, venue: str = "csv",
            max_bad: int = 0, errors: IO[str] = sys.stderr) -> dict[str, int]:
    """Write every row's messages as envelopes, in time order; returns counts per topic
    (and 'bad_rows')."""
    counts: dict[str, int] = defaultdict(int)
    flows: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    lines: list[tuple[int, bytes]] = []
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise CsvError(f"{src}: missing columns {missing}; needs {list(REQUIRED)}, "
                           f"optional {list(OPTIONAL)}")
        for n, row in enumerate(reader, 2):
            where = f"{src}:{n}"
            try:
                msgs = list(row_messages(row, bar_minutes, venue, where))
                for col, i in (("inflow_usd", 0), ("outflow_usd", 1)):
                    v = _num(row, col, where, required=False)
                    if v is not None:
                        flows[msgs[0][1]["ts"]][i] += v
            except CsvError as exc:
                counts["bad_rows"] += 1
                print(f"skipped: {exc}", file=errors)
                if counts["bad_rows"] > max_bad:
                    raise CsvError(f"{src}: more than {max_bad} bad rows, stopped "
                                   f"(last: {exc})") from None
                continue
            for topic, msg in msgs:
                lines.append((msg["ts"], orjson.dumps({"topic": topic, "value": msg})))
                counts[topic] += 1
    for ts, (inflow, outflow) in flows.items():
        for i, (direction, usd) in enumerate((("inflow", inflow), ("outflow", outflow))):
            if usd > 0:
                msg = flow_msg("ethereum", "USDT", ts, tx_hash=f"0x{ts:x}{i}", log_index=i,
                               amount_usd=usd, from_addr="0x" + "0" * 40,
                               to_addr="0x" + "1" * 40, direction=direction,
                               exchange_label="aggregate", ingest_ts=ts)
                lines.append((ts, orjson.dumps({"topic": STABLECOIN_FLOWS, "value": msg})))
                counts[STABLECOIN_FLOWS] += 1
    lines.sort(key=lambda x: x[0])
    for _, line in lines:
        out.write(line + b"\n")
    return dict(counts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m backtest.csv_import", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", type=Path)
    ap.add_argument("--bar", choices=sorted(BARS, key=BARS.get), required=True,
                    help="length of one row's bar; use the same pipeline.window_minutes")
    ap.add_argument("--out", type=Path, required=True, help="JSONL file (.gz compresses)")
    ap.add_argument("--venue", default="csv", help="exchange name on the messages")
    ap.add_argument("--max-bad", type=int, default=0, help="rows that may be skipped")
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if args.out.suffix == ".gz" else open
    try:
        with opener(args.out, "wb") as out:
            counts = convert(args.csv, out, BARS[args.bar], args.venue, args.max_bad)
    except CsvError as exc:
        raise SystemExit(str(exc)) from None
    print(f"{args.out}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()

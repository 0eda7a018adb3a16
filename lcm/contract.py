"""The message contract: every Kafka topic's fields, units, key and timestamp rule, as one
definition in code.

Everything else is derived from it or checked against it:
- lcm/schemas/<topic>.schema.json (JSON Schema 2020-12) and the field tables of
  docs/contract.md are generated from it: `python -m lcm.contract` rewrites both,
  `python -m lcm.contract --check` fails when either is stale (tests/test_contract.py too);
- ingest/contract.py's builders take their bounds and enumerations from here, and every
  builder's output is validated against the generated schemas by the tests;
- the sample (ingest/samples/) is checked against it;
- the Flink job's parse views (sql/flink/2x) must read exactly the fields marked `job`.

Standard library only: the sample generator and shell-side tools import it without the
project's dependencies.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from lcm import topics as T

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
DOC = Path(__file__).resolve().parent.parent / "docs" / "contract.md"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# ------------------------------------------------------------------ bounds and enumerations
# Epoch-ms sanity window: catches seconds or microseconds passed as milliseconds.
MIN_TS_MS = 1_262_304_000_000  # 2010-01-01, inclusive
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01, exclusive
# A funding rate beyond this per interval is a unit error (percent for fraction), not a
# market; the Flink job dead-letters it too (sql/flink/22).
MAX_FUNDING_PER_INTERVAL = 0.05
MAX_INTERVAL_HOURS = 24
# long_share + short_share may differ from 1 by this much (venues round each to 4 digits).
SHARE_SUM_TOLERANCE = 0.01

Side = Literal["long", "short"]
Population = Literal["accounts", "top_positions"]
Direction = Literal["inflow", "outflow", "internal"]
Level = Literal["NONE", "INFO", "WARNING", "CRITICAL"]
HealthState = Literal["up", "degraded", "down"]
SIDES: tuple[str, ...] = get_args(Side)
POPULATIONS: tuple[str, ...] = get_args(Population)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
LEVELS: tuple[str, ...] = get_args(Level)
HEALTH_STATES: tuple[str, ...] = get_args(HealthState)
# The alert's component points, in the order of the alerts topic.
COMPONENT_FIELDS = ("funding_pts", "oi_buildup_pts", "imbalance_pts", "liquidation_pts")
UTC_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"

JsonType = Literal["string", "integer", "number", "boolean"]


@dataclass(frozen=True)
class Field:
    """One field of a message. `required`: always present; `nullable`: may be null
    (present but unknown); `job`: the Flink job reads it (sql/flink/2x)."""

    name: str
    type: JsonType
    doc: str
    unit: str = ""
    required: bool = True
    nullable: bool = False
    job: bool = False
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: float | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    min_length: int | None = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": [self.type, "null"] if self.nullable else self.type}
        out["description"] = self.doc + (f" Unit: {self.unit}." if self.unit else "")
        if self.enum is not None:
            out["enum"] = [*self.enum, None] if self.nullable else list(self.enum)
        for key, value in (("minimum", self.minimum), ("exclusiveMinimum", self.exclusive_minimum),
                           ("maximum", self.maximum), ("exclusiveMaximum", self.exclusive_maximum),
                           ("pattern", self.pattern), ("minLength", self.min_length)):
            if value is not None:
                out[key] = value
        return out

    def bounds(self) -> str:
        """The allowed values, as the docs table shows them."""
        if self.enum is not None:
            return " / ".join(f"`{v}`" for v in self.enum)
        parts = []
        if self.minimum is not None:
            parts.append(f"≥ {_num(self.minimum)}")
        if self.exclusive_minimum is not None:
            parts.append(f"> {_num(self.exclusive_minimum)}")
        if self.maximum is not None:
            parts.append(f"≤ {_num(self.maximum)}")
        if self.exclusive_maximum is not None:
            parts.append(f"< {_num(self.exclusive_maximum)}")
        if self.pattern is not None:
            parts.append(f"`{self.pattern}`")
        if self.min_length:
            parts.append("not empty")
        return ", ".join(parts)


def _num(x: float) -> str:
    return f"{x:_}".replace("_", ",") if isinstance(x, int) else repr(x)


@dataclass(frozen=True)
class Shape:
    """One message shape; a topic has one, the dead-letter topic one per producer kind."""

    name: str
    doc: str
    fields: tuple[Field, ...]
    example: dict[str, Any]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "description": self.doc,
            "properties": {f.name: f.schema() for f in self.fields},
            "required": [f.name for f in self.fields if f.required],
            "additionalProperties": False,
        }


@dataclass(frozen=True)
class Topic:
    name: str
    doc: str
    producers: str
    key: str
    timestamp: str
    shapes: tuple[Shape, ...]
    market: bool = False  # market data: checked by sql/flink/20 + its 2x view, replayable

    @property
    def fields(self) -> tuple[Field, ...]:
        """Every field of every shape (first occurrence wins)."""
        seen: dict[str, Field] = {}
        for shape in self.shapes:
            for f in shape.fields:
                seen.setdefault(f.name, f)
        return tuple(seen.values())

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r} (lcm/contract.py)")

    @property
    def job_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.job)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": f"{self.name}.schema.json",
            "title": f"{self.name} topic message",
            "description": f"{self.doc} Key: {self.key}. Record timestamp: {self.timestamp}",
        }
        if len(self.shapes) == 1:
            shape = self.shapes[0].schema()
            shape["description"] = f"{out['description']} {shape['description']}"
            out.update(shape)
        else:
            out["oneOf"] = [{"title": s.name, **s.schema()} for s in self.shapes]
        return out


# ------------------------------------------------------------------ market data

def _envelope(venue: str = "exchange") -> tuple[Field, ...]:
    chain = venue == "chain"
    return (
        Field(venue, "string",
              "The blockchain the transfer happened on, e.g. `ethereum`." if chain else
              "The venue, lower case: `bybit`, `okx`, `binance`, `hyperliquid`, `dydx`, "
              "`coingecko`.", job=True, min_length=1),
        Field("symbol", "string",
              "The token, e.g. `USDT`." if chain else
              "The instrument in the venue's own spelling (`BTCUSDT`, `BTC-USDT-SWAP`, "
              "`BTC-USD`).", job=True, min_length=1),
        Field("base", "string",
              "The token again (so flows key like market data)." if chain else
              "The asset, one name across venues: upper case, aliases resolved (XBT → BTC), "
              "multipliers removed (1000PEPE → PEPE).", job=True, min_length=1),
        Field("ts", "integer",
              "Event time at the source: when the venue or chain says it happened (a block "
              "time for transfers). Also the Kafka record timestamp.", "epoch ms (UTC)",
              job=True, minimum=MIN_TS_MS, exclusive_maximum=MAX_TS_MS),
        Field("ingest_ts", "integer", "When the ingest process built the message.",
              "epoch ms (UTC)", minimum=MIN_TS_MS, exclusive_maximum=MAX_TS_MS),
    )


# Heartbeats also go to every partition of every data topic (lcm.kafka_io.heartbeat), under a
# key no message has: readers skip them, the job takes only their timestamp.
HEARTBEAT_ON_DATA = ("; a record keyed `heartbeat` is a heartbeat (the `ingest_heartbeat` "
                     "message, sent to every partition of every data topic so a quiet "
                     "partition still moves the job's clock): consumers skip it, the job uses "
                     "only its timestamp")
MARKET_KEY = ("`<exchange>:<base>` (e.g. `bybit:BTC`), so one asset's events of one venue stay "
              "in order" + HEARTBEAT_ON_DATA)
MARKET_TIMESTAMP = ("`ts`. The job takes event time from the record timestamp and "
                    "dead-letters a record whose timestamp differs from `ts`.")
LIVE_PRODUCERS = "ingest sources (`python -m ingest`), `replay`, `backfill`"

PRICES_TOPIC = Topic(
    T.PRICES, "Last traded, mark or index price of one instrument.", LIVE_PRODUCERS,
    MARKET_KEY, MARKET_TIMESTAMP, market=True, shapes=(Shape(
        "price", "A price.", (
            *_envelope(),
            Field("price", "number", "Price of ONE coin of `base` (a 1000PEPE contract's "
                  "price is divided by 1000).", "USD per coin", job=True, exclusive_minimum=0),
            Field("volume_24h_usd", "number", "The venue's 24-hour turnover, where the feed "
                  "has it (absent otherwise).", "USD", required=False, minimum=0),
        ),
        {"exchange": "bybit", "symbol": "BTCUSDT", "base": "BTC", "ts": 1795183201762,
         "ingest_ts": 1795183202117, "price": 94997.0, "volume_24h_usd": 7400000000.0},
    ),),
)

FUNDING_RATES_TOPIC = Topic(
    T.FUNDING_RATES, "The current funding rate of one perpetual.", LIVE_PRODUCERS,
    MARKET_KEY, MARKET_TIMESTAMP, market=True, shapes=(Shape(
        "funding rate", "A funding rate.", (
            *_envelope(),
            Field("funding_rate", "number", "Rate per funding interval of THIS symbol, as a "
                  "fraction (0.0001 = 0.01 %); positive: longs pay shorts. The job makes it "
                  "8-hour-equivalent: `funding_rate * 8 / interval_hours`.",
                  "fraction per interval", job=True, minimum=-MAX_FUNDING_PER_INTERVAL,
                  maximum=MAX_FUNDING_PER_INTERVAL),
            Field("interval_hours", "number", "The symbol's funding interval (1 on "
                  "Hyperliquid and dYdX, 1 to 8 per symbol elsewhere); an integer when whole.",
                  "hours", job=True, exclusive_minimum=0, maximum=MAX_INTERVAL_HOURS),
            Field("mark_price", "number", "The mark price with the rate, null where the feed "
                  "has none.", "USD per coin", nullable=True, job=True, exclusive_minimum=0),
        ),
        {"exchange": "bybit", "symbol": "ETHUSDT", "base": "ETH", "ts": 1795183206351,
         "ingest_ts": 1795183206658, "funding_rate": 0.0004, "interval_hours": 8,
         "mark_price": 3299.52},
    ),),
)

OPEN_INTEREST_TOPIC = Topic(
    T.OPEN_INTEREST, "Open interest of one perpetual.", LIVE_PRODUCERS, MARKET_KEY,
    MARKET_TIMESTAMP, market=True, shapes=(Shape(
        "open interest", "Open interest in coins and in USD (one derived from the other with "
        "the price when the venue gives only one).", (
            *_envelope(),
            Field("oi_base", "number", "Open interest in coins of `base` (contracts "
                  "converted).", "coins", minimum=0),
            Field("oi_usd", "number", "Open interest in USD: what the scores track.", "USD",
                  job=True, minimum=0),
        ),
        {"exchange": "bybit", "symbol": "BTCUSDT", "base": "BTC", "ts": 1795183207552,
         "ingest_ts": 1795183208085, "oi_base": 63229.917, "oi_usd": 6007340668.91},
    ),),
)

LIQUIDATIONS_TOPIC = Topic(
    T.LIQUIDATIONS, "One forced close of a position.", LIVE_PRODUCERS, MARKET_KEY,
    MARKET_TIMESTAMP, market=True, shapes=(Shape(
        "liquidation", "A liquidation. `side` is the LIQUIDATED position's side, whatever "
        "the venue's convention (an engine SELL closes a long: `long`).", (
            *_envelope(),
            Field("id", "string", "Identity of the liquidation: the venue's id, else "
                  "`<exchange>:<symbol>:<ts>:<side>:<raw qty>`. The job counts each id once "
                  "per minute, so a replayed liquidation counts once.", job=True,
                  min_length=1),
            Field("side", "string", "`long`: a long position was liquidated (forced "
                  "selling); `short`: a short was (forced buying).", job=True, enum=SIDES),
            Field("price", "number", "Price of one coin of `base`.", "USD per coin",
                  job=True, exclusive_minimum=0),
            Field("qty", "number", "Size in coins of `base` (contracts converted).", "coins",
                  job=True, exclusive_minimum=0),
            Field("notional_usd", "number", "Size in USD, `price * qty` unless the venue "
                  "states it.", "USD", job=True, minimum=0),
            Field("sampled", "boolean", "true: the feed pushes at most one liquidation per "
                  "symbol and interval (Binance, OKX), so sums are lower bounds. Absent: "
                  "false.", required=False),
        ),
        {"exchange": "okx", "symbol": "BTC-USDT-SWAP", "base": "BTC", "ts": 1795183205068,
         "ingest_ts": 1795183205290, "id": "okx:BTC-USDT-SWAP:1795183205068:long:33",
         "side": "long", "price": 94757.3, "qty": 0.33, "notional_usd": 31269.91,
         "sampled": True},
    ),),
)

LONG_SHORT_RATIO_TOPIC = Topic(
    T.LONG_SHORT_RATIO, "How many accounts (or top positions) are net long.", LIVE_PRODUCERS,
    MARKET_KEY, MARKET_TIMESTAMP, market=True, shapes=(Shape(
        "long/short ratio", "Shares of accounts net long and net short and their ratio (the "
        "three are derived from whichever the venue gives).", (
            *_envelope(),
            Field("long_share", "number", "Share net long.", "fraction 0..1", job=True,
                  minimum=0, maximum=1),
            Field("short_share", "number", "Share net short; `long_share + short_share` is 1 "
                  f"within {SHARE_SUM_TOLERANCE}.", "fraction 0..1", minimum=0, maximum=1),
            Field("ratio", "number", "`long_share / short_share`.", "longs per short",
                  minimum=0),
            Field("population", "string", "Who is counted: all accounts, or the top "
                  "traders' positions. The job keeps the two apart up to the scores.",
                  job=True, enum=POPULATIONS),
        ),
        {"exchange": "bybit", "symbol": "ETHUSDT", "base": "ETH", "ts": 1795183209241,
         "ingest_ts": 1795183209757, "long_share": 0.7427, "short_share": 0.2573,
         "ratio": 2.8865, "population": "accounts"},
    ),),
)

STABLECOIN_FLOWS_TOPIC = Topic(
    T.STABLECOIN_FLOWS, "One stablecoin transfer to, from or between labeled exchange "
    "wallets.", "ingest source `etherscan`, `replay`, `backfill`",
    "`<chain>:<token>` (e.g. `ethereum:USDT`)" + HEARTBEAT_ON_DATA, MARKET_TIMESTAMP,
    market=True, shapes=(Shape(
        "stablecoin transfer", "A USDT/USDC transfer with an exchange wallet on at least one "
        "side; `tx_hash` + `log_index` identify it (the job counts it once).", (
            *_envelope("chain"),
            Field("token", "string", "The token: `USDT` or `USDC`.", min_length=1),
            Field("tx_hash", "string", "Transaction hash, lower case.", job=True,
                  pattern="^0x"),
            Field("log_index", "integer", "Index of the Transfer log in the block.", job=True,
                  minimum=0),
            Field("amount_usd", "number", "Amount in USD at the peg.", "USD", job=True,
                  minimum=0),
            Field("from", "string", "Sender address, lower case."),
            Field("to", "string", "Receiver address, lower case."),
            Field("direction", "string", "`inflow`: onto an exchange from outside; `outflow`: "
                  "off an exchange; `internal`: between two exchanges.", job=True,
                  enum=DIRECTIONS),
            Field("exchange_label", "string", "The exchange of the labeled side (the receiver "
                  "for inflow and internal, the sender for outflow), from "
                  "`ingest/data/exchange_addresses.csv`.", nullable=True),
        ),
        {"chain": "ethereum", "symbol": "USDT", "base": "USDT", "ts": 1795183223000,
         "ingest_ts": 1795183223274, "token": "USDT",
         "tx_hash": "0x09676b9de4f9168f158601d5afada4d2fb05c3a0233782a46d4f85c8bc7c3859",
         "log_index": 220, "amount_usd": 524352.95,
         "from": "0x677a506f77ddf2271bf83fe5bf155098d1ef2128",
         "to": "0x2b3f3ff8d56e0accfbba7200a8b0c0c49c5f2c81", "direction": "outflow",
         "exchange_label": "bybit"},
    ),),
)

# ------------------------------------------------------------------ the pipeline's own

def _count(name: str, doc: str) -> Field:
    return Field(name, "integer", doc, "count since the process started", job=True, minimum=0)


HEARTBEAT_TOPIC = Topic(
    T.HEARTBEAT_TOPIC, "The job's clock: keeps event time moving while every data "
    "partition is quiet (docs/operations.md).",
    "every ingest process (every second), `replay` (every 5 s of event time and a last one "
    "past the final event)",
    "the `source`; the same message goes to EVERY partition of the topic, and to every "
    "partition of every data topic under the key `heartbeat` (the job's source views and "
    "every reader of a data topic skip those: `lcm.kafka_io.is_heartbeat`)",
    "`ts`, the time the producer vouches for: everything it sends later is newer.",
    shapes=(Shape(
        "heartbeat", "A heartbeat. It names no venue or asset, so the job's windowed views "
        "take only its watermark, never a row.", (
            Field("source", "string", "The producer: `ingest`, `replay`.", min_length=1),
            Field("ts", "integer", "The producer's clock, a little behind wall time for live "
                  "ingest (`heartbeat_lag_ms`).", "epoch ms (UTC)", minimum=MIN_TS_MS,
                  exclusive_maximum=MAX_TS_MS),
            Field("ingest_ts", "integer", "Wall time when it was sent.", "epoch ms (UTC)",
                  minimum=MIN_TS_MS, exclusive_maximum=MAX_TS_MS),
        ),
        {"source": "ingest", "ts": 1795183260000, "ingest_ts": 1795183261000},
    ),),
)

HEALTH_TOPIC = Topic(
    T.HEALTH_TOPIC, "Each ingest source's own report; the job copies every report into the "
    "`source_health` table (Pipeline health dashboard).",
    "every ingest process, per source every `health.report_seconds` (5 s) and once at stop",
    "the `source`", "`ts`.",
    shapes=(Shape(
        "health report", "A health report of one source.", (
            Field("source", "string", "The source: `bybit`, `okx`, ..., `etherscan`.",
                  job=True, min_length=1),
            Field("ts", "integer", "When the report was made.", "epoch ms (UTC)", job=True,
                  minimum=MIN_TS_MS, exclusive_maximum=MAX_TS_MS),
            Field("last_event_ts", "integer", "Event time of the newest message the source "
                  "published; null before its first.", "epoch ms (UTC)", nullable=True,
                  job=True, minimum=MIN_TS_MS, exclusive_maximum=MAX_TS_MS),
            _count("messages", "Messages published."),
            _count("errors", "Upstream errors (HTTP, WebSocket, parse)."),
            _count("dead_letters", "Payloads sent to `ingest_dead_letter`."),
            Field("state", "string", "`down`: the source's task is dead or silent past "
                  "`down_after_seconds`; `degraded`: silent past `stale_after_seconds` or new "
                  "errors since the last report; else `up`.", job=True, enum=HEALTH_STATES),
        ),
        {"source": "bybit", "ts": 1795183265000, "last_event_ts": 1795183264512,
         "messages": 1234, "errors": 0, "dead_letters": 1, "state": "up"},
    ),),
)

DEAD_LETTER_TOPIC = Topic(
    T.DEAD_LETTER_TOPIC, "What could not be used, with the raw text and the reason, so "
    "nothing is dropped silently. Three producers, three shapes.",
    "ingest sources, `replay`, the Flink job",
    "ingest: the `source`; replay: `replay`; the job: none",
    "ingest: `ts`; replay: when it was sent; the job: set by Flink.",
    shapes=(
        Shape("ingest", "A venue or chain payload a source could not normalize.", (
            Field("source", "string", "The source that received it.", min_length=1),
            Field("reason", "string", "What is wrong, naming the field.", min_length=1),
            Field("raw", "string", "The payload as received (text)."),
            Field("ts", "integer", "When it was dead-lettered.", "epoch ms (UTC)",
                  minimum=MIN_TS_MS, exclusive_maximum=MAX_TS_MS),
            Field("where", "string", "Where it came from: the URL or stream."),
        ), {"source": "bybit", "reason": "price: not a number: 'abc'",
            "raw": "{\"symbol\":\"BTCUSDT\",\"lastPrice\":\"abc\"}", "ts": 1795183265000,
            "where": "/v5/market/tickers"}),
        Shape("replay", "A line of a replay file that is not a `{topic, value}` envelope "
              "of a market-data topic.", (
            Field("source", "string", "Always `replay`.", enum=("replay",)),
            Field("file", "string", "The replayed file."),
            Field("line", "integer", "Line number, from 1.", minimum=1),
            Field("reason", "string", "What is wrong with the line.", min_length=1),
            Field("raw", "string", "The line."),
            Field("ingest_ts", "integer", "When it was dead-lettered.", "epoch ms (UTC)",
                  minimum=MIN_TS_MS, exclusive_maximum=MAX_TS_MS),
        ), {"source": "replay", "file": "rec/2026-11-20T14.jsonl.gz", "line": 17,
            "reason": "not JSON: unexpected character", "raw": "{oops",
            "ingest_ts": 1795183265000}),
        Shape("job", "A record of an input topic that the job's checks refused (also in the "
              "`dead_letters` table).", (
            Field("topic", "string", "The input topic (without a test prefix).",
                  min_length=1),
            Field("kafka_partition", "integer", "Partition of the record.", minimum=0),
            Field("kafka_offset", "integer", "Offset of the record.", minimum=0),
            Field("problem", "string", "The first check that failed, naming the field.",
                  min_length=1),
            Field("payload", "string", "The record's value as text."),
        ), {"topic": "prices", "kafka_partition": 0, "kafka_offset": 42,
            "problem": "price: not positive",
            "payload": "{\"exchange\":\"bybit\",\"symbol\":\"BTCUSDT\",\"base\":\"BTC\","
                       "\"ts\":1795183201762,\"ingest_ts\":1795183202117,\"price\":-1}"}),
    ),
)


def _points(name: str, doc: str) -> Field:
    return Field(name, "number", doc, "points", nullable=True, minimum=0, maximum=100)


ALERTS_TOPIC = Topic(
    T.ALERTS_TOPIC, "One change of an asset's alert state (docs/scoring.md), for the "
    "notifier; the same row is in the `alerts` table.", "the Flink job (sql/flink/60, 70)",
    "the `base`, so one asset's alerts stay in order", "set by Flink.",
    shapes=(Shape(
        "alert", "An alert: every field is present, a missing value is null (an input that "
        "was missing is never shown as 0). Fields are written in this order.", (
            Field("alert_id", "string", "Idempotency key: `<base>:<window start, ISO-8601 "
                  "UTC>:<level>`.", min_length=1),
            Field("base", "string", "The asset.", min_length=1),
            Field("level", "string", "The new level; `NONE`: back to no alert.", enum=LEVELS),
            Field("previous_level", "string", "The level before; null when it was none.",
                  nullable=True, enum=LEVELS[1:]),
            Field("side", "string", "Which side's risk is the headline: `long` = long "
                  "cascade, `short` = short squeeze.", nullable=True, enum=SIDES),
            Field("risk", "number", "Liquidation Risk, the larger of the two sides.", "0..100",
                  nullable=True, minimum=0, maximum=100),
            Field("long_risk", "number", "Long-cascade risk.", "0..100", nullable=True,
                  minimum=0, maximum=100),
            Field("short_risk", "number", "Short-squeeze risk.", "0..100", nullable=True,
                  minimum=0, maximum=100),
            _points("funding_pts", "Funding component of the headline side."),
            _points("oi_buildup_pts", "Open-interest build-up component."),
            _points("imbalance_pts", "Long/short imbalance component."),
            _points("liquidation_pts", "Liquidations-under-way component."),
            Field("pressure", "number", "Stablecoin Pressure of the minute (outflow from "
                  "exchanges positive).", "-100..+100", nullable=True, minimum=-100,
                  maximum=100),
            Field("confidence", "number", "Share of the score's points that could be "
                  "measured.", "fraction 0..1", nullable=True, minimum=0, maximum=1),
            Field("components", "string", "Which components had data.", nullable=True),
            Field("window_start", "string", "Start of the scored minute, "
                  "`YYYY-MM-DD HH:MM:SS` UTC.", pattern=UTC_TIME_PATTERN),
            Field("window_end", "string", "End of the scored minute, same format.",
                  pattern=UTC_TIME_PATTERN),
        ),
        {"alert_id": "BTC:2026-11-20T14:06:00Z:WARNING", "base": "BTC", "level": "WARNING",
         "previous_level": "INFO", "side": "long", "risk": 52.6, "long_risk": 52.6,
         "short_risk": 18.2, "funding_pts": 18.0, "oi_buildup_pts": 14.6,
         "imbalance_pts": 20.0, "liquidation_pts": 0.0, "pressure": -4.8, "confidence": 1.0,
         "components": "funding,oi_buildup,imbalance,liquidations",
         "window_start": "2026-11-20 14:06:00", "window_end": "2026-11-20 14:07:00"},
    ),),
)

MARKET_TOPICS: dict[str, Topic] = {t.name: t for t in (
    PRICES_TOPIC, FUNDING_RATES_TOPIC, OPEN_INTEREST_TOPIC, LIQUIDATIONS_TOPIC,
    LONG_SHORT_RATIO_TOPIC, STABLECOIN_FLOWS_TOPIC)}
PIPELINE_TOPICS: dict[str, Topic] = {t.name: t for t in (
    ALERTS_TOPIC, DEAD_LETTER_TOPIC, HEARTBEAT_TOPIC, HEALTH_TOPIC)}
CONTRACT: dict[str, Topic] = {**MARKET_TOPICS, **PIPELINE_TOPICS}
# The fields sql/flink/20_envelope_checks.sql reads from every market-data message.
ENVELOPE_JOB_FIELDS = frozenset(f.name for venue in ("exchange", "chain")
                                for f in _envelope(venue) if f.job)


def venue_field(topic: str) -> str:
    """`exchange`, or `chain` for stablecoin flows."""
    return MARKET_TOPICS[topic].shapes[0].fields[0].name


def replay_envelope_schema() -> dict[str, Any]:
    """One line of a replay/recording file: {"topic": <market topic>, "value": <message>}."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": "replay_envelope.schema.json",
        "title": "replay file line",
        "description": "One line of a replay or recording file (.jsonl or .jsonl.gz): a "
                       "market-data message and its topic. Lines that are not such an "
                       "envelope are dead-lettered by the replay.",
        "type": "object",
        "required": ["topic", "value"],
        "additionalProperties": False,
        "properties": {"topic": {"enum": list(MARKET_TOPICS)}, "value": {"type": "object"}},
        "oneOf": [{"properties": {"topic": {"const": name}, "value": {"$ref": f"#/$defs/{name}"}}}
                  for name in MARKET_TOPICS],
        "$defs": {name: t.shapes[0].schema() for name, t in MARKET_TOPICS.items()},
    }


def schemas() -> dict[str, dict[str, Any]]:
    """file name -> JSON Schema, every file of lcm/schemas/."""
    out = {f"{name}.schema.json": t.schema() for name, t in CONTRACT.items()}
    out["replay_envelope.schema.json"] = replay_envelope_schema()
    return out


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ docs/contract.md tables

BEGIN = "<!-- generated by `python -m lcm.contract` from lcm/contract.py: do not edit -->"
END = "<!-- end of generated part -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def topic_markdown(topic: Topic, partitions: int) -> str:
    lines = [f"### `{topic.name}`", "", topic.doc, "",
             f"- Producers: {topic.producers}.",
             f"- Key: {topic.key}.",
             f"- Record timestamp: {topic.timestamp}",
             f"- Partitions: {partitions} (`lcm/topics.txt`).",
             f"- Schema: [`lcm/schemas/{topic.name}.schema.json`]"
             f"(../lcm/schemas/{topic.name}.schema.json).", ""]
    for shape in topic.shapes:
        if len(topic.shapes) > 1:
            lines += [f"**{shape.name}**: {shape.doc}", ""]
        else:
            lines += [shape.doc, ""]
        lines += ["| field | type | unit | allowed | present | job | meaning |",
                  "|---|---|---|---|---|---|---|"]
        for f in shape.fields:
            presence = "always" if f.required else "optional"
            if f.nullable:
                presence += ", may be null"
            lines.append(f"| `{f.name}` | {f.type} | {_cell(f.unit)} | {_cell(f.bounds())} | "
                         f"{presence} | {'reads' if f.job else ''} | {_cell(f.doc)} |")
        lines += ["", "```json", json.dumps(shape.example, ensure_ascii=False), "```", ""]
    return "\n".join(lines)


def generated_markdown() -> str:
    parts = [BEGIN, ""]
    parts += ["## Market data", ""]
    parts += [topic_markdown(t, T.TOPICS[t.name]) for t in MARKET_TOPICS.values()]
    parts += ["## The pipeline's own topics", ""]
    parts += [topic_markdown(t, T.TOPICS[t.name]) for t in PIPELINE_TOPICS.values()]
    parts += [END]
    return "\n".join(parts)


def render_doc(current: str) -> str:
    """docs/contract.md with its generated part replaced."""
    start, end = current.find(BEGIN), current.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOC}: the markers {BEGIN!r} ... {END!r} are missing")
    return current[:start] + generated_markdown() + current[end + len(END):]


# ------------------------------------------------------------------ command line

def stale(schema_dir: Path = SCHEMA_DIR, doc: Path = DOC) -> list[tuple[Path, str, str]]:
    """(path, wanted text, current text) of every generated file that is not up to date."""
    out = []
    wanted = {schema_dir / name: schema_text(s) for name, s in schemas().items()}
    current_doc = doc.read_text(encoding="utf-8")
    wanted[doc] = render_doc(current_doc)
    for path, text in wanted.items():
        now = path.read_text(encoding="utf-8") if path.exists() else ""
        if now != text:
            out.append((path, text, now))
    extra = sorted(set(schema_dir.glob("*.json")) - set(wanted))
    out += [(p, "", p.read_text(encoding="utf-8")) for p in extra]
    return out


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m lcm.contract",
        description="Write lcm/schemas/*.schema.json and the generated tables of "
                    "docs/contract.md from the contract in lcm/contract.py.")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 naming every stale file")
    args = ap.parse_args(list(argv) if argv is not None else None)
    todo = stale()
    if args.check:
        for path, want, now in todo:
            diff = difflib.unified_diff(now.splitlines(), want.splitlines(), str(path),
                                        "generated", lineterm="", n=1)
            print("\n".join(list(diff)[:40]), file=sys.stderr)
        if todo:
            print(f"{len(todo)} generated file(s) stale; run: python -m lcm.contract",
                  file=sys.stderr)
        return 1 if todo else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for path, want, _ in todo:
        if want:
            path.write_text(want, encoding="utf-8")
        else:
            path.unlink()
        print(f"{'wrote' if want else 'removed'} {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

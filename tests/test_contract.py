"""The message contract (lcm/contract.py, docs/contract.md) and everything that must agree
with it: the generated JSON Schemas and doc tables, the sample, every builder and producer
of the project, the job's parse views and Kafka sinks, and the notifier's alert model."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ingest import contract as builders
from ingest.health import SourceHealth
from ingest.replay import replay
from lcm import contract, kafka_io
from lcm.deadletter import dead_letter_record
from lcm.paths import REPO_DIR
from lcm.topics import (
    ALERTS_TOPIC,
    DEAD_LETTER_TOPIC,
    FUNDING_RATES,
    HEALTH_TOPIC,
    HEARTBEAT_TOPIC,
    LIQUIDATIONS,
    LONG_SHORT_RATIO,
    OPEN_INTEREST,
    PRICES,
    STABLECOIN_FLOWS,
    TOPICS,
)
from notifier.alert import Alert

SQL = REPO_DIR / "sql" / "flink"
SAMPLE = REPO_DIR / "ingest" / "samples" / "sample.jsonl"
TS = 1_795_183_201_762


def validator(name: str) -> Draft202012Validator:
    path = contract.SCHEMA_DIR / f"{name}.schema.json"
    return Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def errors(name: str, message: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(message)'}: {e.message}"
            for e in validator(name).iter_errors(message)]


# ------------------------------------------------------------------ generated files

def test_schemas_and_doc_tables_are_generated_from_the_contract() -> None:
    stale = [str(path.relative_to(REPO_DIR)) for path, _, _ in contract.stale()]
    assert not stale, f"stale: {stale}; run: python -m lcm.contract"


def test_a_hand_edit_of_a_generated_file_is_caught(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for name, schema in contract.schemas().items():
        (schemas / name).write_text(contract.schema_text(schema), encoding="utf-8")
    doc = tmp_path / "contract.md"
    doc.write_text(contract.DOC.read_text(encoding="utf-8"), encoding="utf-8")
    assert contract.stale(schemas, doc) == []
    edited = schemas / "prices.schema.json"
    edited.write_text(edited.read_text().replace('"exclusiveMinimum": 0', '"minimum": 0'))
    doc.write_text(doc.read_text().replace("| `price` | number |", "| `price` | integer |"))
    (schemas / "old_topic.schema.json").write_text("{}")
    assert sorted(p.name for p, _, _ in contract.stale(schemas, doc)) == [
        "contract.md", "old_topic.schema.json", "prices.schema.json"]


def test_every_schema_is_valid_json_schema_2020_12() -> None:
    for path in sorted(contract.SCHEMA_DIR.glob("*.schema.json")):
        Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def test_the_contract_covers_exactly_the_topics_of_the_topic_list() -> None:
    assert set(contract.CONTRACT) == set(TOPICS)


# ------------------------------------------------------------------ examples, sample

@pytest.mark.parametrize("topic", list(contract.CONTRACT))
def test_every_example_is_valid(topic: str) -> None:
    for shape in contract.CONTRACT[topic].shapes:
        assert errors(topic, shape.example) == [], shape.name


def test_each_dead_letter_matches_exactly_its_own_shape() -> None:
    shapes = contract.CONTRACT[DEAD_LETTER_TOPIC].shapes
    for shape in shapes:
        matching = [other.name for other in shapes
                    if not list(Draft202012Validator(other.schema()).iter_errors(shape.example))]
        assert matching == [shape.name]


def _mutations(topic: contract.Topic) -> list[tuple[str, dict[str, Any]]]:
    """Broken copies of the topic's example, one per rule of the contract."""
    out = []
    example = topic.shapes[0].example
    for f in topic.shapes[0].fields:
        if f.required:
            broken = {k: v for k, v in example.items() if k != f.name}
            out.append((f"{f.name} missing", broken))
        wrong_type = 1.5 if f.type in ("string", "integer", "boolean") else "1.5"
        out.append((f"{f.name} of the wrong type", {**example, f.name: wrong_type}))
        if not f.nullable:
            out.append((f"{f.name} null", {**example, f.name: None}))
        for bound, delta in ((f.minimum, -1), (f.exclusive_minimum, 0), (f.maximum, 1),
                             (f.exclusive_maximum, 0)):
            if bound is not None:
                beyond = bound + delta if f.type == "integer" or delta else bound
                out.append((f"{f.name} = {beyond}", {**example, f.name: beyond}))
        if f.enum is not None:
            out.append((f"{f.name} not in {f.enum}", {**example, f.name: "other"}))
    out.append(("an extra field", {**example, "extra": 1}))
    return out


@pytest.mark.parametrize("topic", [t for t in contract.CONTRACT
                                   if len(contract.CONTRACT[t].shapes) == 1])
def test_the_schema_refuses_what_the_contract_forbids(topic: str) -> None:
    accepted = [what for what, message in _mutations(contract.CONTRACT[topic])
                if not errors(topic, message)]
    assert accepted == []


def test_the_sample_is_valid_line_by_line() -> None:
    replay_file = validator("replay_envelope")
    bad = []
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        for e in replay_file.iter_errors(json.loads(line)):
            bad.append(f"sample.jsonl:{n}: {e.message}")
    assert not bad, bad[:10]
    assert len(lines) == 1912


def test_the_replay_file_schema_refuses_a_message_under_the_wrong_topic() -> None:
    line = {"topic": PRICES, "value": contract.CONTRACT[FUNDING_RATES].shapes[0].example}
    assert list(validator("replay_envelope").iter_errors(line))
    assert list(validator("replay_envelope").iter_errors({"topic": "nope", "value": {}}))


# ------------------------------------------------------------------ producers

def _builder_outputs() -> dict[str, list[dict[str, Any]]]:
    """Every builder, with and without its optional arguments, on the venues' spellings."""
    b = builders
    return {
        PRICES: [b.price_msg("bybit", "BTCUSDT", "BTC", TS, "94997.5"),
                 b.price_msg("okx", "1000PEPE-USDT-SWAP", "PEPE", TS, "0.0123",
                             volume_24h_usd="12345.6", multiplier=b.Decimal(1000))],
        FUNDING_RATES: [b.funding_msg("hyperliquid", "BTC", "BTC", TS, "0.0000125", 1),
                        b.funding_msg("binance", "ETHUSDT", "ETH", TS, "-0.05", "4",
                                      mark_price="3300.1")],
        OPEN_INTEREST: [b.oi_msg("bybit", "BTCUSDT", "BTC", TS, oi_base="63229.917",
                                 oi_usd="6007340668.91"),
                        b.oi_msg("okx", "BTC-USDT-SWAP", "BTC", TS, oi_usd="100", price="95000")],
        LIQUIDATIONS: [b.liquidation_msg("binance", "BTCUSDT", "BTC", TS, "long", "94000",
                                         "0.5", sampled=True),
                       b.liquidation_msg("bybit", "ETHUSDT", "ETH", TS, "short", "3300", "2",
                                         notional_usd="6600", dedup_key="bybit:abc")],
        LONG_SHORT_RATIO: [b.long_short_msg("okx", "BTC-USDT-SWAP", "BTC", TS, "accounts",
                                            ratio="2.5"),
                           b.long_short_msg("binance", "ETHUSDT", "ETH", TS, "top_positions",
                                            long_share="0.6183", short_share="0.3817")],
        STABLECOIN_FLOWS: [b.flow_msg("ethereum", "USDT", TS, tx_hash="0xAB" + "0" * 62,
                                      log_index=3, amount_usd="1000.5", from_addr="0x1",
                                      to_addr="0x2", direction="inflow", exchange_label="okx"),
                           b.flow_msg("ethereum", "USDC", TS, tx_hash="0x" + "1" * 64,
                                      log_index=0, amount_usd=0, from_addr="0x3",
                                      to_addr="0x4", direction="internal",
                                      exchange_label=None)],
        HEARTBEAT_TOPIC: [b.value for b in kafka_io.heartbeat_records("ingest", TS)
                          if b.topic == HEARTBEAT_TOPIC],
        HEALTH_TOPIC: [SourceHealth("bybit").report(TS / 1000, 120, 600),
                       _busy_health().report(TS / 1000 + 1, 120, 600)],
        DEAD_LETTER_TOPIC: [dead_letter_record("okx", "price: missing", "{}", "/x")],
    }


def _busy_health() -> SourceHealth:
    h = SourceHealth("etherscan", running=True)
    h.event(TS)
    h.error("HTTP 503")
    h.dead_letters += 1
    return h


@pytest.mark.parametrize("topic", list(_builder_outputs()))
def test_every_builder_writes_valid_messages(topic: str) -> None:
    for message in _builder_outputs()[topic]:
        assert errors(topic, message) == [], message
        if topic in builders.BUILDERS:
            assert builders.topic_of(message) == topic


class RecordingProducer:
    """What the replay hands to Kafka: (topic, value, key, timestamp) per record."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any], bytes | None, int]] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None, *,
                on_delivery: Any = None, timestamp: int = 0, partition: int = -1,
                headers: Any = None) -> None:
        self.records.append((topic, json.loads(value), key, timestamp))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0

    def list_topics(self, timeout: float = 0) -> SimpleNamespace:
        return SimpleNamespace(topics={})  # no broker: lcm/topics.txt's partition counts


def test_replayed_records_follow_the_contract_key_and_timestamp_rules(tmp_path: Path) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    first = [next(line for line in lines if f'"topic":"{t}"' in line)
             for t in contract.MARKET_TOPICS]
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join([*first[:3], "{not json", *first[3:]]) + "\n",
                    encoding="utf-8")
    producer = RecordingProducer()
    replay(path, producer, progress=False)  # type: ignore[arg-type]
    seen = set()
    for topic, value, key, timestamp in producer.records:
        seen.add(topic)
        if kafka_io.is_heartbeat(key):  # the clock on a data topic: a heartbeat message
            assert topic in kafka_io.CLOCK_TOPICS
            assert errors(HEARTBEAT_TOPIC, value) == [] and timestamp == value["ts"]
            continue
        assert errors(topic, value) == [], (topic, value)
        if topic in contract.MARKET_TOPICS:
            venue = value[contract.venue_field(topic)]
            assert key == f"{venue}:{value['base']}".encode()
            assert timestamp == value["ts"]
        elif topic == HEARTBEAT_TOPIC:
            assert key == b"replay" and timestamp == value["ts"]
    assert seen == {*contract.MARKET_TOPICS, HEARTBEAT_TOPIC, DEAD_LETTER_TOPIC}


# ------------------------------------------------------------------ the job's SQL

def _sql(path: Path) -> str:
    """The file without comments."""
    return re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))


def fields_read(path: Path) -> set[str]:
    """Message fields a view reads: j.name (JSON_ROW's typed row), f['name'] (JSON_FIELDS'
    map) or a '$.name' JSON path."""
    text = _sql(path)
    return (set(re.findall(r"\bj\.(\w+)", text)) | set(re.findall(r"\bf\['([^']+)'\]", text))
            | set(re.findall(r"'\$\.(\w+)'", text)))


def _parse_view(topic: str) -> Path:
    found = list(SQL.glob(f"2[0-9]_parse_{topic}.sql"))
    assert len(found) == 1, f"no single sql/flink/2x_parse_{topic}.sql: {found}"
    return found[0]


def test_the_envelope_checks_read_exactly_the_contract_envelope() -> None:
    assert fields_read(SQL / "20_envelope_checks.sql") == contract.ENVELOPE_JOB_FIELDS


@pytest.mark.parametrize("topic", [*contract.MARKET_TOPICS, HEALTH_TOPIC])
def test_each_parse_view_reads_exactly_the_fields_the_contract_marks(topic: str) -> None:
    spec = contract.CONTRACT[topic]
    envelope = contract.ENVELOPE_JOB_FIELDS if spec.market else frozenset()
    assert fields_read(_parse_view(topic)) == spec.job_fields - envelope


def test_the_heartbeat_view_reads_fields_no_heartbeat_has() -> None:
    # It must pass no rows, only the heartbeat's watermark (sql/flink/29).
    read = fields_read(SQL / "29_heartbeats.sql")
    assert read and not read & {f.name for f in contract.CONTRACT[HEARTBEAT_TOPIC].fields}


def _kafka_sink_columns(table: str) -> list[str]:
    text = _sql(SQL / "60_sinks.sql")
    body = re.search(rf"CREATE TEMPORARY TABLE {table} \((.*?)\) WITH", text, re.S)
    assert body, table
    return [col.split()[0] for col in body.group(1).split(",") if col.strip()]


def test_the_jobs_kafka_sinks_write_the_contract_fields_in_order() -> None:
    alert = contract.CONTRACT[ALERTS_TOPIC].shapes[0]
    assert _kafka_sink_columns("alerts_topic") == [f.name for f in alert.fields]
    job_dead_letter = next(s for s in contract.CONTRACT[DEAD_LETTER_TOPIC].shapes
                           if s.name == "job")
    assert _kafka_sink_columns("dead_letter_topic") == [f.name for f in job_dead_letter.fields]


def test_a_column_read_the_contract_does_not_have_is_caught(tmp_path: Path) -> None:
    view = tmp_path / "21_parse_prices.sql"
    original = _parse_view(PRICES).read_text()
    assert "j.price" in original  # the mutation below must change something
    view.write_text(original.replace("j.price", "j.prize"))
    assert fields_read(view) != contract.CONTRACT[PRICES].job_fields - contract.ENVELOPE_JOB_FIELDS


# ------------------------------------------------------------------ consumers

def test_the_notifier_reads_the_contract_alert() -> None:
    alert = contract.CONTRACT[ALERTS_TOPIC].shapes[0]
    assert set(Alert.model_fields) == {f.name for f in alert.fields}
    parsed = Alert.model_validate(alert.example)
    assert (parsed.level, parsed.window_start.isoformat()) == (
        "WARNING", "2026-11-20T14:06:00+00:00")


def test_copying_an_example_does_not_change_it() -> None:
    # The examples are module constants the docs print; a test mutating one would leak.
    before = copy.deepcopy(contract.CONTRACT[PRICES].shapes[0].example)
    _mutations(contract.CONTRACT[PRICES])
    assert contract.CONTRACT[PRICES].shapes[0].example == before

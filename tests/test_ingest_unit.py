"""Replay and Kafka helpers that need no broker."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ingest import replay
from lcm import kafka_io
from lcm.topics import topic_partitions


def test_topics_file_lists_every_topic_of_the_contract() -> None:
    topics = topic_partitions()
    data = {"prices", "funding_rates", "open_interest", "liquidations", "long_short_ratio",
            "stablecoin_flows"}
    assert data <= set(topics) and all(topics[t] == 3 for t in data)
    assert {"alerts", "ingest_dead_letter", "ingest_heartbeat"} <= set(topics)
    assert data == replay.DATA_TOPICS


def test_topics_file_errors_name_the_line(tmp_path: Path) -> None:
    f = tmp_path / "topics.txt"
    f.write_text("# header\nprices 3\nfunding_rates three\n")
    with pytest.raises(ValueError, match=r"topics\.txt:3: expected 'topic partitions'"):
        topic_partitions(f)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"topic": "trades", "value": {}}', "topic: 'trades' is not one of"),
        (b'{"topic": "prices"}', "value: missing or not an object"),
        (b'{"topic": "prices", "value": [1]}', "value: missing or not an object"),
    ],
)
def test_parse_envelope_names_the_problem(line: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        replay.parse_envelope(line)


def test_parse_envelope_and_key() -> None:
    topic, value = replay.parse_envelope(
        b'{"topic": "liquidations", "value": {"exchange": "okx", "base": "ETH", "ts": 1}}')
    assert topic == "liquidations" and value["ts"] == 1
    assert kafka_io.message_key(topic, value) == b"okx:ETH"
    assert kafka_io.message_key("stablecoin_flows", {"chain": "ethereum", "base": "USDT"}) == (
        b"ethereum:USDT")


def test_gzip_recordings_are_read_like_plain_ones(tmp_path: Path) -> None:
    lines = b'{"topic":"prices","value":{"ts":5}}\n\n{"topic":"prices","value":{"ts":7}}\n'
    plain, packed = tmp_path / "r.jsonl", tmp_path / "r.jsonl.gz"
    plain.write_bytes(lines)
    packed.write_bytes(gzip.compress(lines))
    for path in (plain, packed):
        assert [n for n, _ in replay.iter_lines(path)] == [1, 3]
        assert replay.first_ts(path) == 5

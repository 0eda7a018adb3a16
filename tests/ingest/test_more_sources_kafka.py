"""The real CLI (`python -m ingest <source>`) against a local server replaying recorded
payloads, into the real local Kafka under a topic prefix of its own: the messages land in
the contract's topics with the contract's key, fields and record timestamp."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from confluent_kafka import KafkaException

from harness.local_servers import Reply
from lcm import kafka_io
from lcm.paths import REPO_DIR
from lcm.settings import Connections
from lcm.topics import TOPICS
from tests.ingest.source_harness import fixture

pytestmark = pytest.mark.stack


@pytest.fixture
def kafka_prefix():
    bootstrap = Connections.from_env().kafka_bootstrap
    try:
        kafka_io.make_admin(bootstrap).list_topics(timeout=10)
    except KafkaException as exc:
        pytest.fail(f"Kafka at {bootstrap} is not reachable (run 'make up'): {exc}")
    prefix = f"test_more_{uuid.uuid4().hex[:8]}_"
    yield bootstrap, prefix
    kafka_io.delete_topics(bootstrap, [prefix + t for t in TOPICS])


def consume(bootstrap: str, topics: list[str], want: int, timeout_s: float = 60) -> list:
    return kafka_io.read_topic(bootstrap, topics, want, timeout_s=timeout_s)


def run_cli(tmp_path: Path, bootstrap: str, prefix: str, source: str, section: dict,
            topics: list[str], want: int, env: dict | None = None) -> list:
    config = tmp_path / "ingest.yaml"
    config.write_text(yaml.safe_dump({"spool": {"dir": str(tmp_path / "spool")},
                                      "health": {"report_seconds": 1},
                                      "sources": {source: section}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--bootstrap", bootstrap, "--topic-prefix", prefix,
         "--ingest-config", str(config), source],
        cwd=REPO_DIR, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        got = consume(bootstrap, [prefix + t for t in topics], want)
    finally:
        proc.send_signal(signal.SIGINT)  # a clean stop: the publisher flushes, exit code 0
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert len(got) >= want, f"{len(got)} of {want} messages; CLI output:\n{out}"
    return got


def test_hyperliquid_cli_into_kafka(http_server, tmp_path, kafka_prefix):
    bootstrap, prefix = kafka_prefix
    http_server.add("/info", Reply(200, fixture("hyperliquid", "meta_and_asset_ctxs.json")),
                    method="POST")
    got = run_cli(tmp_path, bootstrap, prefix, "hyperliquid",
                  {"rest_url": http_server.url, "poll_seconds": 60,
                   "budget": {"requests": 600, "per_seconds": 60}},
                  ["prices", "funding_rates", "open_interest"], want=12)
    by_topic: dict[str, dict[bytes, dict]] = {}
    for m in got:
        value = json.loads(m.value())
        assert m.timestamp()[1] == value["ts"]  # Kafka record time = the message's ts
        by_topic.setdefault(m.topic().removeprefix(prefix), {})[m.key()] = value
    assert set(by_topic["open_interest"]) == {b"hyperliquid:BTC", b"hyperliquid:ETH",
                                              b"hyperliquid:SOL", b"hyperliquid:PEPE"}
    pepe = by_topic["open_interest"][b"hyperliquid:PEPE"]
    assert pepe["symbol"] == "kPEPE" and pepe["oi_base"] == 4031215874000
    assert by_topic["funding_rates"][b"hyperliquid:BTC"]["interval_hours"] == 1
    health = consume(bootstrap, [prefix + "ingest_health"], 1, timeout_s=10)
    assert any(json.loads(h.value())["source"] == "hyperliquid" for h in health)


def test_etherscan_cli_into_kafka(http_server, tmp_path, kafka_prefix):
    bootstrap, prefix = kafka_prefix
    usdt = "0xdac17f958d2ee523a2206206994597c13d831ec7"

    def answer(request):
        q = request.query
        if q.get("action") == "eth_blockNumber":
            return Reply(200, fixture("etherscan", "block_number.json"))
        if q.get("action") == "eth_getBlockByNumber":  # the head is checked: it exists
            block = json.loads(fixture("etherscan", "block_by_number.json"))
            block["result"]["number"] = q["tag"]
            return Reply(200, block)
        name = "getlogs_usdt.json" if q.get("address", "").lower() == usdt else "no_records.json"
        return Reply(200, fixture("etherscan", name))

    http_server.add("/v2/api", answer)
    got = run_cli(tmp_path, bootstrap, prefix, "etherscan",
                  {"rest_url": http_server.url, "poll_seconds": 60, "api_key_env": "LCM_TEST_ES",
                   "budget": {"requests": 10, "per_seconds": 1},
                   "options": {"state_file": str(tmp_path / "cursor.json")}},
                  ["stablecoin_flows"], want=3, env={"LCM_TEST_ES": "test-key"})
    flows = [(m.key(), json.loads(m.value())) for m in got]
    assert {k for k, _ in flows} == {b"ethereum:USDT"}
    assert sorted(v["direction"] for _, v in flows) == ["inflow", "internal", "outflow"]
    assert all(m.timestamp()[1] == json.loads(m.value())["ts"] for m in got)

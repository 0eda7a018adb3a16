"""End to end on the shared local Kafka: `python -m ingest bybit --once` against the local
recorded Bybit server lands contract messages in (prefixed) topics, keyed
`<exchange>:<base>` and stamped with the event time."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from flink_jobs.config import REPO_DIR, Connections
from ingest import kafka_io
from tests.ingest.cex_local import LocalHttp, LocalWs
from tests.ingest.test_bybit import _local_bybit, _ws_frames

pytestmark = pytest.mark.stack

FIELDS = {
    "prices": {"price", "volume_24h_usd"},
    "funding_rates": {"funding_rate", "interval_hours", "mark_price"},
    "open_interest": {"oi_base", "oi_usd"},
    "liquidations": {"id", "side", "price", "qty", "notional_usd", "sampled"},
    "long_short_ratio": {"long_share", "short_share", "ratio", "population"},
}
COMMON = {"exchange", "symbol", "base", "ts", "ingest_ts"}


def consume(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list:
    """(key, value, kafka timestamp) of every record of the topic, waiting for `expected`
    and then 2 s more (a duplicate would show)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"cex-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list = []
        deadline = time.monotonic() + timeout_s
        drain_until = None
        while time.monotonic() < (drain_until or deadline):
            for m in c.consume(500, 0.5):
                if not m.error():
                    out.append((m.key().decode(), orjson.loads(m.value()), m.timestamp()[1]))
            if len(out) >= expected and drain_until is None:
                drain_until = time.monotonic() + 2
        return out
    finally:
        c.close()


def test_bybit_once_lands_contract_messages_in_kafka(tmp_path: Path) -> None:
    bootstrap = Connections.from_env().kafka_bootstrap
    prefix = f"cextest_{uuid.uuid4().hex[:8]}_"

    async def scenario() -> tuple[int, str]:
        with LocalHttp() as http:
            _local_bybit(http)
            http.once.clear()
            async with LocalWs(_ws_frames()) as ws:
                config = tmp_path / "ingest.yaml"
                config.write_text(
                    f"spool: {{dir: {tmp_path / 'spool'}}}\n"
                    "sources:\n"
                    "  bybit:\n"
                    f"    rest_url: {http.url}\n"
                    f"    ws_url: ws://127.0.0.1:{ws.port}\n"
                    "    budget: {requests: 100, per_seconds: 1}\n"
                    "    poll_seconds: 1\n"
                    "    options: {once_stream_seconds: 2}\n", encoding="utf-8")
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "ingest", "--bootstrap", bootstrap,
                    "--topic-prefix", prefix, "--ingest-config", str(config), "bybit", "--once",
                    cwd=REPO_DIR, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT)
                out, _ = await asyncio.wait_for(proc.communicate(), 120)
                return proc.returncode, out.decode(errors="replace")

    try:
        code, output = asyncio.run(scenario())
        assert code == 0, output
        expected = {"prices": 3, "funding_rates": 3, "open_interest": 3, "liquidations": 3,
                    "long_short_ratio": 1}
        for topic, n in expected.items():
            records = consume(bootstrap, prefix + topic, n)
            assert len(records) == n, (topic, records, output)
            for key, value, stamp in records:
                assert COMMON | FIELDS[topic] <= value.keys(), (topic, value)
                assert value["exchange"] == "bybit"
                assert key == f"bybit:{value['base']}"
                assert stamp == value["ts"]  # Kafka timestamp = event time from the venue
        liq = {v["id"]: v for _, v, _ in consume(bootstrap, prefix + "liquidations", 3)}
        assert sorted((v["symbol"], v["side"]) for v in liq.values()) == [
            ("1000PEPEUSDT", "long"), ("BTCUSDT", "long"), ("BTCUSDT", "short")]
        pepe = next(v for v in liq.values() if v["base"] == "PEPE")
        assert pepe["qty"] == 20_000_000 and pepe["sampled"] is False
        health = [v for k, v, _ in consume(bootstrap, prefix + "ingest_health", 1)
                  if k == "bybit"]
        assert health and health[-1]["messages"] == sum(expected.values())
    finally:
        kafka_io.delete_topics(bootstrap, [prefix + t for t in kafka_io.TOPICS])

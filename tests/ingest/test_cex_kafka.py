"""End to end on the shared local Kafka: `python -m ingest <venue> --once` against the
venue's local recorded server lands contract messages in (prefixed) topics, keyed
`<exchange>:<base>`, stamped with the event time, each exactly once."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import NewTopic

from harness.local_servers import HttpServer, WsServer
from lcm import kafka_io
from lcm.paths import REPO_DIR
from lcm.settings import Connections
from lcm.topics import TOPICS
from tests.ingest.test_binance import _local_binance as binance_setup
from tests.ingest.test_binance import _ws_frames as binance_frames
from tests.ingest.test_bybit import _local_bybit as bybit_setup
from tests.ingest.test_bybit import _ws_frames as bybit_frames
from tests.ingest.test_okx import _local_okx as okx_setup
from tests.ingest.test_okx import _ws_frames as okx_frames

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
    return [(m.key().decode(), orjson.loads(m.value()), m.timestamp()[1])
            for m in kafka_io.read_topic(bootstrap, topic, expected, timeout_s=timeout_s,
                                         linger_s=2)]


VENUES = {
    # venue: (local server setup, WebSocket frames, needs subscribe, expected per topic)
    "bybit": (bybit_setup, bybit_frames, True,
              {"prices": 3, "funding_rates": 3, "open_interest": 3, "liquidations": 3,
               "long_short_ratio": 1}),
    "okx": (okx_setup, okx_frames, True,
            {"prices": 4, "funding_rates": 4, "open_interest": 4, "liquidations": 3,
             "long_short_ratio": 1}),
    "binance": (binance_setup, binance_frames, False,
                {"prices": 3, "funding_rates": 3, "open_interest": 1, "liquidations": 2,
                 "long_short_ratio": 1}),
}


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_once_lands_contract_messages_in_kafka(venue: str, tmp_path: Path) -> None:
    setup, ws_frames, needs_subscribe, expected = VENUES[venue]
    bootstrap = Connections.from_env().kafka_bootstrap
    prefix = f"cextest_{uuid.uuid4().hex[:8]}_"

    async def scenario() -> tuple[int, str]:
        with HttpServer() as http:
            setup(http)
            http.once.clear()  # the failure replies are other tests' business
            async with WsServer(ws_frames(), needs_subscribe=needs_subscribe) as ws:
                config = tmp_path / "ingest.yaml"
                config.write_text(
                    f"spool: {{dir: {tmp_path / 'spool'}}}\n"
                    "sources:\n"
                    f"  {venue}:\n"
                    f"    rest_url: {http.url}\n"
                    f"    ws_url: ws://127.0.0.1:{ws.port}/market/ws/x\n"
                    "    budget: {requests: 100, per_seconds: 1}\n"
                    "    poll_seconds: 1\n"
                    "    options: {once_stream_seconds: 2}\n", encoding="utf-8")
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "ingest", "--bootstrap", bootstrap,
                    "--topic-prefix", prefix, "--ingest-config", str(config), venue, "--once",
                    cwd=REPO_DIR, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT)
                out, _ = await asyncio.wait_for(proc.communicate(), 120)
                return proc.returncode, out.decode(errors="replace")

    # The recorded events are from 2025: with the broker's default time-based retention
    # their segments could be deleted before the check reads them. Keep them forever.
    admin = kafka_io.make_admin(bootstrap)
    try:
        for fut in admin.create_topics([
                NewTopic(prefix + t, num_partitions=n, replication_factor=1,
                         config={"retention.ms": "-1"})
                for t, n in TOPICS.items()]).values():
            fut.result(30)
        code, output = asyncio.run(scenario())
        assert code == 0, output
        for topic, n in expected.items():
            records = consume(bootstrap, prefix + topic, n)
            assert len(records) == n, (topic, records, output)  # all, and no duplicate
            for key, value, stamp in records:
                assert COMMON | FIELDS[topic] <= value.keys(), (topic, value)
                assert value["exchange"] == venue
                assert key == f"{venue}:{value['base']}"
                assert stamp == value["ts"]  # Kafka timestamp = event time from the venue
        liq = [v for _, v, _ in consume(bootstrap, prefix + "liquidations", 1)]
        assert {v["sampled"] for v in liq} == {venue != "bybit"}  # Bybit's feed is complete
        assert {v["side"] for v in liq} == {"long", "short"}
        health = [v for k, v, _ in consume(bootstrap, prefix + "ingest_health", 1)
                  if k == venue]
        assert health and health[-1]["messages"] == sum(expected.values())
        assert health[-1]["dead_letters"] == 0
    finally:
        kafka_io.delete_topics(bootstrap, [prefix + t for t in TOPICS])

"""The database the dashboards and `make report` are tested on: the recorded sample replayed
through the real Flink job on the running cluster, in a sandbox (own topics, own database),
plus what the sample lacks and the live system has: ingest health reports of each source
(the ingest_health topic) and a few broken records (dead letters).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from flink_jobs.config import load_config
from harness.sandbox import Sandbox
from ingest import replay
from lcm import kafka_io
from lcm.pipeline import SAMPLE_MONITOR_CONFIG
from lcm.topics import HEALTH_TOPIC

SAMPLE = Path(__file__).resolve().parents[1] / "ingest" / "samples" / "sample.jsonl"
HEALTH_EVERY_MS = 30_000
# Records that break the contract, as a buggy producer would write them (the job refuses
# them with a reason into dead_letters). Stamped inside the sample's quarter hour.
BAD_AT_MS = 1795183230000
BAD_RECORDS = [
    ("prices", b'{"exchange": "bybit", "symbol": "BTCUSDT", "base": "BTC", "ts": 17951'),
    ("liquidations", b'{"exchange":"okx","symbol":"BTC-USDT-SWAP","base":"BTC",'
                     b'"ts":1795183230000,"side":"SELL","price":1,"qty":1,"notional_usd":1}'),
]

# A valid price stamped inside the sample's quarter hour, sent after the replay's last
# heartbeat has closed every minute of it: a late record.
LATE_RECORD = {"exchange": "bybit", "symbol": "BTCUSDT", "base": "BTC", "ts": BAD_AT_MS,
               "ingest_ts": BAD_AT_MS, "price": 95000.0}


@dataclass(frozen=True)
class PipelineData:
    database: str
    reader_dsn: str
    assets: frozenset[str]
    first_ms: int
    last_ms: int


def _health_reports() -> tuple[list[dict], set[str], int, int]:
    """The sample, and an ingest_health report per exchange every 30 s of it. The reports
    go straight to their topic: replay takes market data only, as a recording holds."""
    records = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assets = {r["value"]["base"] for r in records if r["topic"] != "stablecoin_flows"}
    sources = sorted({r["value"].get("exchange") or r["value"].get("chain") for r in records})
    first = min(r["value"]["ts"] for r in records)
    last = max(r["value"]["ts"] for r in records)
    seen: dict[str, int] = {}
    counts: dict[str, int] = {}
    health = []
    cursor = first - first % HEALTH_EVERY_MS + HEALTH_EVERY_MS
    for r in sorted(records, key=lambda r: r["value"]["ts"]):
        while cursor <= r["value"]["ts"]:
            health += [{
                "source": s, "ts": cursor, "last_event_ts": seen.get(s),
                "messages": counts.get(s, 0), "errors": 0, "dead_letters": 0,
                "state": "up" if s in seen else "degraded"} for s in sources]
            cursor += HEALTH_EVERY_MS
        src = r["value"].get("exchange") or r["value"].get("chain")
        seen[src] = r["value"]["ts"]
        counts[src] = counts.get(src, 0) + 1
    return health, assets, first, last


def build(box: Sandbox, timeout_s: float = 300) -> PipelineData:
    """Run the job in the sandbox, replay, wait until every table it writes is settled, then
    cancel the job: the tests only read the database, and the task slot is free for others
    (the monitor job and the end-to-end test's own job)."""
    cfg = load_config(SAMPLE_MONITOR_CONFIG)
    health, assets, first, last = _health_reports()
    box.submit_job("--config", str(SAMPLE_MONITOR_CONFIG))
    producer = kafka_io.make_producer(box.conn.kafka_bootstrap)
    for report in health:
        kafka_io.produce(producer, box.prefix + HEALTH_TOPIC, report,
                         key=report["source"].encode())
    for topic, raw in BAD_RECORDS:
        producer.produce(box.prefix + topic, raw, b"bad:record", timestamp=BAD_AT_MS)
    stats = replay.replay(SAMPLE, producer, topic_prefix=box.prefix, progress=False,
                          close_after_ms=cfg.pipeline.close_after_ms)
    if stats.delivery_errors:
        raise RuntimeError(f"replay into the sandbox failed: {stats}")
    tables = ("risk_scores", "features_1m", "alerts", "stablecoin_pressure", "dead_letters",
              "source_health", "topic_events_1m", "liquidations", "liquidation_levels",
              "long_short_ratios")
    deadline = time.monotonic() + timeout_s
    _settle(box, tables, assets, deadline, timeout_s)
    # Every minute is written, so the job's clock is past them all: a record of one of them
    # delivered now is late, and counted in late_records_1m. (Sent before the job read the
    # final heartbeat, it could still have been on time.)
    kafka_io.produce(producer, box.prefix + "prices", LATE_RECORD)
    if producer.flush(30):
        raise RuntimeError("the late record was not delivered")
    del producer
    _settle(box, (*tables, "late_records_1m"), assets, deadline, timeout_s)
    box.cancel_jobs()
    reader = box.conn.dsn("reader", dbname=box.db)
    return PipelineData(box.db, reader, frozenset(assets), first, last)


def _settle(box: Sandbox, tables: tuple[str, ...], assets: set[str], deadline: float,
            timeout_s: float) -> None:
    """Wait until every table has rows, every asset is scored and nothing changed for 8 s."""
    counts_sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    wanted = "SELECT count(DISTINCT base) FROM risk_scores WHERE venue = 'all'"
    last_counts, since = None, time.monotonic()
    with psycopg.connect(box.dsn(), autocommit=True) as db:
        while True:
            counts = db.execute(counts_sql).fetchone()
            ready = all(counts) and db.execute(wanted).fetchone()[0] == len(assets)
            if counts != last_counts:
                last_counts, since = counts, time.monotonic()
            elif ready and time.monotonic() - since >= 8:
                break  # everything written and nothing changed for 8 s
            if time.monotonic() > deadline:
                empty = [t for t, n in zip(tables, counts, strict=True) if not n]
                raise RuntimeError(
                    f"the job did not fill the sandbox in {timeout_s:.0f} s: counts "
                    f"{dict(zip(tables, counts, strict=True))}, empty {empty}; job "
                    f"{[box.job_state(j) for j in box.jobs]}")
            time.sleep(1)

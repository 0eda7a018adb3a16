"""End to end on the real local stack: replay a fixed input into Kafka, let the Flink
cluster run the job, and compare every row in PostgreSQL with tests/reference.py's
model of the same input. Then restart the job from scratch, and replay the input again:
the rows stay the same.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flink_jobs.config import load_config
from flink_jobs.job import HEALTH_TOPIC
from ingest import replay
from lcm import kafka_io
from lcm.pipeline import SAMPLE_MONITOR_CONFIG
from lcm.topics import ALERTS_TOPIC, DEAD_LETTER_TOPIC
from tests.conftest import SAMPLE, Sandbox, wait_for
from tests.reference import expected

pytestmark = pytest.mark.stack

BAD_AT_MS = 1795183230000  # 2026-11-20 14:00:30 UTC, inside the sample's quarter hour

# Records that reach the topics but break the contract, each with the reason the job
# must give. Written straight to the topics (as a buggy producer would), not via replay.
BAD_RECORDS: list[tuple[str, bytes, str]] = [
    ("prices", b'{"exchange": "bybit", "symbol": "BTCUSDT", "base": "BTC", "ts": 1795183',
     "not a JSON object"),
    ("prices", b"[1, 2, 3]", "not a JSON object"),
    ("prices", b'{"exchange":"bybit","symbol":"BTCUSDT","base":"BTC","ts":1795183230000,'
               b'"price":"n/a"}', "price: missing or not a number"),
    ("prices", b'{"exchange":"okx","symbol":"BTC-USDT-SWAP","ts":1795183230000,"price":1}',
     "base: missing"),
    ("funding_rates", b'{"exchange":"okx","symbol":"ETH-USDT-SWAP","base":"ETH",'
                      b'"ts":1795183230000,"interval_hours":8}',
     "funding_rate: missing or not a number"),
    ("open_interest", b'{"exchange":"bybit","symbol":"SOLUSDT","base":"SOL","ts":"yesterday",'
                      b'"oi_usd":1e9}', "ts: missing or not epoch milliseconds"),
    ("open_interest", b'{"exchange":"bybit","symbol":"SOLUSDT","base":"SOL","ts":4102444800000,'
                      b'"oi_usd":1e9}',
     "ts: differs from the Kafka record timestamp (producers must set it to ts)"),
    ("liquidations", b'{"exchange":"binance","symbol":"BTCUSDT","base":"BTC","ts":1795183230000,'
                     b'"side":"BUY","price":95000,"qty":1,"notional_usd":95000}',
     "side: must be long or short"),
    ("long_short_ratio", b'{"exchange":"okx","symbol":"BTC-USDT-SWAP","base":"BTC",'
                         b'"ts":1795183230000,"long_share":1.7}', "long_share: outside 0..1"),
    ("stablecoin_flows", b'{"chain":"ethereum","symbol":"USDT","base":"USDT",'
                         b'"ts":1795183230000,"token":"USDT","tx_hash":"0xab","log_index":1,'
                         b'"amount_usd":5e6,"direction":"sideways"}',
     "direction: must be inflow, outflow or internal"),
]


# Ingest health reports (docs/contract.md), one of them broken; written straight to the topic.
HEALTH: list[dict] = [
    {"source": "bybit", "ts": BAD_AT_MS, "last_event_ts": BAD_AT_MS - 800, "messages": 1200,
     "errors": 0, "dead_letters": 0, "state": "up"},
    {"source": "bybit", "ts": BAD_AT_MS + 5000, "last_event_ts": BAD_AT_MS + 4100,
     "messages": 1290, "errors": 1, "dead_letters": 0, "state": "up"},
    {"source": "okx", "ts": BAD_AT_MS + 2000, "last_event_ts": None, "messages": 0,
     "errors": 7, "dead_letters": 2, "state": "down"},
]
BAD_HEALTH = (b'{"source":"okx","ts":1795183240000,"last_event_ts":null,"messages":3,'
              b'"errors":0,"dead_letters":0,"state":"sleepy"}',
              "state: must be up, degraded or down")
ALERT_COLUMNS = ["alert_id", "level", "previous_level", "side", "risk", "long_risk",
                 "short_risk", "funding_pts", "oi_buildup_pts", "imbalance_pts",
                 "liquidation_pts", "pressure", "confidence", "components"]


def _ms(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts / 1000, UTC)


def _input_file(tmp_path: Path) -> tuple[Path, list[tuple[str, dict]]]:
    """The sample, with some liquidations and flows delivered twice and two broken lines.
    A second delivery follows the first (as a producer's retry does), not the replay's
    later heartbeats: a record that trails its producer's heartbeats is late by contract
    (lcm.contract, docs/operations.md) and no window counts it."""
    lines = SAMPLE.read_text().splitlines()
    dupes = [ln for ln in lines if '"topic":"liquidations"' in ln.replace(" ", "")][:5]
    dupes += [ln for ln in lines if '"topic":"stablecoin_flows"' in ln.replace(" ", "")][:3]
    body = [twice for ln in lines for twice in ([ln, ln] if ln in dupes else [ln])]
    body += ["this is not json", '{"topic": "nope", "value": {}}']
    path = tmp_path / "input.jsonl"
    path.write_text("\n".join(body) + "\n")
    messages = []
    for ln in body:
        try:
            topic, value = replay.parse_envelope(ln.encode())
        except ValueError:
            continue
        messages.append((topic, value))
    return path, messages


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return False
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _compare(name: str, actual: dict, want: dict, columns: list[str]) -> None:
    assert set(actual) == set(want), (
        f"{name}: keys differ; missing {sorted(set(want) - set(actual))[:5]}, "
        f"unexpected {sorted(set(actual) - set(want))[:5]}")
    bad = [(key, col, actual[key][col], want[key][col])
           for key in want for col in columns if not _close(actual[key][col], want[key][col])]
    assert not bad, f"{name}: {len(bad)} values differ, first: {bad[:5]}"


def _compare_job_tables(rows: dict[str, list[dict]], want) -> None:
    """The scored tables (features, scores, stablecoin pressure, alerts) against the
    reference model, column by column: the end-to-end and the parallelism test's check."""
    _compare("features_1m", {(r["base"], r["venue"], r["window_start"]): r
                             for r in rows["features_1m"]}, want.features,
             ["price", "funding_8h", "oi_usd", "oi_change_pct", "price_change_pct",
              "long_share", "top_long_share", "liq_long_usd", "liq_short_usd", "liq_count",
              "events"])
    _compare("risk_scores", {(r["base"], r["venue"], r["window_start"]): r
                             for r in rows["risk_scores"]}, want.risk,
             ["risk", "side", "long_risk", "short_risk", "funding_pts", "oi_buildup_pts",
              "imbalance_pts", "liquidation_pts", "liquidation_recent_pts", "price_move_pts",
              "top_imbalance_pts", "pressure_pts", "confidence", "components", "data_age_s",
              "pressure", "level"])
    _compare("stablecoin_pressure", {r["window_start"]: r for r in rows["stablecoin_pressure"]},
             want.pressure, ["inflow_usd", "outflow_usd", "internal_usd", "transfers",
                             "baseline_usd", "pressure"])
    _compare("alerts", {(r["base"], r["window_start"]): r for r in rows["alerts"]}, want.alerts,
             ALERT_COLUMNS)


def _snapshot(box: Sandbox) -> dict[str, list]:
    tables = {"features_1m": "base, venue, window_start",
              "risk_scores": "base, venue, window_start",
              "stablecoin_pressure": "window_start", "alerts": "base, window_start",
              "liquidations": "event_time, dedup_key",
              "dead_letters": "topic, kafka_partition, kafka_offset",
              "source_health": "source, reported_at", "topic_events_1m": "topic, window_start"}
    rows = {t: box.query(f"SELECT * FROM {t} ORDER BY {k}") for t, k in tables.items()}
    for r in rows["risk_scores"]:
        del r["written_at"]  # when the row was first written: differs between jobs
    return rows


def test_replay_to_database(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = load_config(SAMPLE_MONITOR_CONFIG)
    path, messages = _input_file(tmp_path)
    want = expected(messages, cfg, [(t, BAD_AT_MS) for t, _, _ in BAD_RECORDS])
    bootstrap = sandbox.conn.kafka_bootstrap

    job_id = sandbox.submit_job("--config", str(SAMPLE_MONITOR_CONFIG))
    producer = kafka_io.make_producer(bootstrap)
    for topic, raw, _ in BAD_RECORDS:  # stamped like the recording they arrive among
        producer.produce(sandbox.prefix + topic, raw, b"bad:record", timestamp=BAD_AT_MS)
    for h in HEALTH:
        producer.produce(sandbox.prefix + HEALTH_TOPIC, json.dumps(h).encode(),
                         h["source"].encode(), timestamp=h["ts"])
    producer.produce(sandbox.prefix + HEALTH_TOPIC, BAD_HEALTH[0], b"okx",
                     timestamp=BAD_AT_MS + 3000)
    close_after = cfg.pipeline.close_after_ms
    stats = replay.replay(path, producer, topic_prefix=sandbox.prefix, progress=False,
                          close_after_ms=close_after)
    assert stats.dead_letters == 2 and stats.delivery_errors == 0
    assert stats.total == len(messages)

    # The job has written everything once the last minute's scores are there.
    wait_for(lambda: len(sandbox.query("SELECT 1 FROM risk_scores")) >= len(want.risk)
             and len(sandbox.query("SELECT 1 FROM dead_letters")) > len(BAD_RECORDS),
             240, f"{len(want.risk)} risk rows and {len(BAD_RECORDS)} dead letters")
    _wait_quiet(sandbox)

    rows = _snapshot(sandbox)
    assert {k[1] for k in want.risk} >= {"all", "bybit", "okx", "binance", "hyperliquid"}
    _compare_job_tables(rows, want)
    _compare("topic_events_1m", {(r["topic"], r["window_start"]): r
                                 for r in rows["topic_events_1m"]}, want.topic_events,
             ["events", "dead_letters"])
    _compare("source_health", {(r["source"], r["reported_at"]): r for r in rows["source_health"]},
             {(h["source"], _ms(h["ts"])): {
                 "last_event_at": _ms(h["last_event_ts"]), "messages": h["messages"],
                 "errors": h["errors"], "dead_letters": h["dead_letters"], "state": h["state"]}
              for h in HEALTH}, ["last_event_at", "messages", "errors", "dead_letters", "state"])
    assert {r["dedup_key"] for r in rows["liquidations"]} == want.liquidations
    # The sample's scenario must reach the top level and come back, or the alert path
    # (escalation, hysteresis, cooldown, NONE) went untested.
    assert {a["level"] for a in want.alerts.values()} >= {"INFO", "WARNING", "CRITICAL", "NONE"}

    # Every broken record is counted with its reason and raw text; nothing failed the job.
    bad = [*BAD_RECORDS, (HEALTH_TOPIC, *BAD_HEALTH)]
    got = sorted((r["topic"], r["problem"], r["payload"]) for r in rows["dead_letters"])
    assert got == sorted((t, why, raw.decode()) for t, raw, why in bad)
    state = sandbox.job_state(job_id)
    assert state == {"state": "RUNNING", "failures": 0}, state

    # The dead letters also reach the dead-letter topic for whoever fixes the producer.
    seen = [json.loads(m.value()) for m in kafka_io.read_topic(
        bootstrap, sandbox.prefix + DEAD_LETTER_TOPIC, len(bad) + 2, linger_s=1)]
    assert len(seen) == len(bad) + 2, f"dead letters on the topic: {seen}"
    reasons = sorted(d["reason"] for d in seen if "reason" in d)
    assert len(reasons) == 2 and reasons[0].startswith("not JSON: "), reasons
    assert reasons[1] == "topic: 'nope' is not one of " + str(sorted(replay.DATA_TOPICS))
    assert {d["raw"] for d in seen if "raw" in d} == {"this is not json",
                                                      '{"topic": "nope", "value": {}}'}
    assert sorted(d["problem"] for d in seen if "problem" in d) == sorted(
        why for _, _, why in bad)

    # Every alert also reaches the alerts topic as the flat JSON object of docs/contract.md.
    _check_alerts_topic(sandbox, want.alerts, ALERT_COLUMNS)

    # A fresh job over the same topics (no state, from the earliest offsets) rewrites the
    # same rows: the JDBC sink upserts on the tables' primary keys.
    sandbox.cancel_jobs()
    sandbox.forget_offsets()
    sandbox.submit_job("--config", str(SAMPLE_MONITOR_CONFIG))
    wait_for(lambda: sandbox.caught_up(), 240, "the new job to consume everything again")
    _wait_quiet(sandbox)
    _assert_same(_snapshot(sandbox), rows, "after a fresh job")

    # Replaying the same input again into the running job leaves the same rows: its
    # minutes have closed, and liquidations and transfers are deduplicated by key anyway.
    replay.replay(path, producer, topic_prefix=sandbox.prefix, progress=False,
                  close_after_ms=close_after + 60_000)
    wait_for(lambda: sandbox.caught_up(), 120, "the job to consume the second replay")
    _wait_quiet(sandbox)
    _assert_same(_snapshot(sandbox), rows, "after replaying twice")


def _check_alerts_topic(box: Sandbox, want: dict, columns: list[str]) -> None:
    seen = kafka_io.read_topic(box.conn.kafka_bootstrap, box.prefix + ALERTS_TOPIC,
                               len(want), linger_s=1)
    assert len(seen) >= len(want), f"alerts on the topic: {len(seen)} of {len(want)}"
    got = {}
    for m in seen:
        value = json.loads(m.value())
        assert list(value) == ["alert_id", "base", "level", "previous_level", "side", "risk",
                               "long_risk", "short_risk", "funding_pts", "oi_buildup_pts",
                               "imbalance_pts", "liquidation_pts", "pressure", "confidence",
                               "components", "window_start", "window_end"], value
        assert m.key() == value["base"].encode()
        start = datetime.strptime(value["window_start"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        end = datetime.strptime(value["window_end"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert (end - start).total_seconds() == 60 * load_config(
            SAMPLE_MONITOR_CONFIG).pipeline.window_minutes
        got[(value["base"], start)] = value
    _compare("alerts topic", got, want, columns)


def _assert_same(now: dict[str, list], before: dict[str, list], when: str) -> None:
    """Same rows, same values (floats to 1e-9: sums may add up in another order)."""
    for table, rows in before.items():
        changed = [(a, b) for a, b in zip(now[table], rows, strict=False)
                   if a.keys() != b.keys() or not all(_close(a[k], b[k]) for k in a)]
        assert len(now[table]) == len(rows) and not changed, (
            f"{table} {when}: {len(now[table])} rows, was {len(rows)}; "
            f"first changes (now, before): {changed[:2]}")


def _wait_quiet(box: Sandbox, quiet_s: float = 6, timeout_s: float = 120) -> None:
    """Wait until no table has changed for quiet_s seconds."""
    last, since = None, time.monotonic()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = _snapshot(box)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(1)
    pytest.fail(f"tables kept changing for {timeout_s:.0f} s")

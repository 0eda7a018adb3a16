"""The notifier as a process on the real local Kafka (127.0.0.1:9092 from .env): alerts
from the topic reach each channel per its floor, a malformed message goes to the
dead-letter topic, offsets are committed once handled, and a process killed after channel
A confirmed but before channel B did sends B the alert on restart and A nothing more.
Own topic prefix per test; topics and the consumer group are deleted afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from harness import recorded
from harness.local_servers import HttpServer, Reply
from lcm import kafka_io
from lcm.paths import REPO_DIR
from lcm.settings import Connections
from lcm.topics import ALERTS_TOPIC, DEAD_LETTER_TOPIC
from tests.conftest import wait_for
from tests.notifier_support.alerts import FAST_RETRY, alert, config_dict

pytestmark = pytest.mark.stack
GROUP = "notifier-test"
SLACK_OK = Reply.of(
    recorded.load("notifier", "slack_incoming_webhook.json", exact=False)["responses"]["ok"])
TELEGRAM_OK = Reply.of(
    recorded.load("notifier", "telegram_sendMessage.json", exact=False)["responses"]["ok"])
TOKEN = "7012345678:AAH-kafka-test-token"


@pytest.fixture
def kafka() -> Iterator[tuple[str, str]]:
    """(bootstrap, topic prefix) with the prefix's topics created, and removed afterwards."""
    bootstrap = Connections.from_env().kafka_bootstrap
    prefix = f"test_notify_{uuid.uuid4().hex[:8]}_"
    try:
        created = kafka_io.ensure_topics(bootstrap, prefix, timeout_s=15)
    except SystemExit as exc:
        pytest.fail(f"Kafka is not up (run 'make up'): {exc}")
    try:
        yield bootstrap, prefix
    finally:
        kafka_io.delete_topics(bootstrap, created)
        kafka_io.delete_consumer_groups(bootstrap, [prefix + GROUP])


def produce_alerts(bootstrap: str, topic: str, values: list[dict[str, Any] | bytes]) -> None:
    producer = kafka_io.make_producer(bootstrap)
    for value in values:
        if isinstance(value, bytes):
            producer.produce(topic, value, b"BTC")
        else:
            kafka_io.produce(producer, topic, value, key=value["base"].encode())
    assert producer.flush(30) == 0


MOVING_COORDINATOR = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                      KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TIMED_OUT}


def committed(bootstrap: str, prefix: str) -> int:
    """The group's committed offset on the alerts topic (negative: none yet, or the
    group's coordinator is moving: NOT_COORDINATOR is retriable, the caller asks again)."""
    consumer = kafka_io.make_consumer(bootstrap, prefix + GROUP)
    try:
        (tp,) = consumer.committed([TopicPartition(prefix + ALERTS_TOPIC, 0)],
                                   timeout=15)
        return tp.offset
    except KafkaException as exc:
        err = exc.args[0]
        if not (err.retriable() or err.code() in MOVING_COORDINATOR):
            raise
        return -1
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, want: int, timeout_s: float = 30) -> list[bytes]:
    return [m.value() for m in kafka_io.read_topic(bootstrap, topic, want, timeout_s=timeout_s)]


class NotifierProcess:
    """python -m notifier in a subprocess, its log kept in a file."""

    def __init__(self, tmp_path: Path, bootstrap: str, prefix: str, channels: list[dict],
                 env: dict[str, str]) -> None:
        self.config = tmp_path / "notifier.yaml"
        self.config.write_text(yaml.safe_dump(config_dict(
            channels, consumer={"group": GROUP, "auto_offset_reset": "earliest",
                                "poll_timeout_s": 0.2, "session_timeout_s": 6})),
            encoding="utf-8")
        self.state = tmp_path / "state"
        self.env = {"PATH": os.environ.get("PATH", ""), "KAFKA_BOOTSTRAP": bootstrap, **env}
        self.prefix = prefix
        self.logs: list[Path] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.state.parent / f"notifier-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", "--config", str(self.config),
                 "--topic-prefix", self.prefix, "--state-dir", str(self.state)],
                cwd=REPO_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout_s)

    def log(self, run: int = -1) -> str:
        return self.logs[run].read_text(encoding="utf-8", errors="replace")

    def ledger(self) -> set[tuple[str, str, str]]:
        path = self.state / "ledger.sqlite3"
        if not path.exists():
            return set()
        with sqlite3.connect(path) as db:
            return set(db.execute("SELECT channel, alert_id, status FROM deliveries"))


def test_alerts_from_kafka_reach_each_channel_once(kafka, tmp_path):
    bootstrap, prefix = kafka
    day = [alert("INFO", None, minute=1), alert("WARNING", "INFO", minute=2),
           b"{not an alert", alert("CRITICAL", "WARNING", minute=3),
           alert("NONE", "CRITICAL", minute=4, side=None)]
    produce_alerts(bootstrap, prefix + ALERTS_TOPIC, day)
    with HttpServer(default=Reply()) as hook, HttpServer(default=TELEGRAM_OK) as tg, \
            HttpServer(default=SLACK_OK) as slack:
        channels = [
            {"name": "hook", "type": "webhook", "url_env": "HOOK", "min_level": "INFO"},
            {"name": "tg", "type": "telegram", "token_env": "TG", "chat_id_env": "CHAT",
             "api_base": tg.url, "min_level": "WARNING"},
            {"name": "slack", "type": "slack", "url_env": "SLACK", "min_level": "CRITICAL",
             "send_recovery": False},
        ]
        env = {"HOOK": hook.url + "/in", "TG": TOKEN, "CHAT": "42",
               "SLACK": slack.url + "/services/T/B/SLACKSECRET"}
        notifier = NotifierProcess(tmp_path, bootstrap, prefix, channels, env)
        notifier.start()
        try:
            wait_for(lambda: committed(bootstrap, prefix) == 5, 90,
                     "the notifier to commit all 5 messages")
        finally:
            code = notifier.stop()
        levels = {name: [s.json.get("alert", {}).get("level") or s.json.get("text", "")[:40]
                         for s in server.delivered()]
                  for name, server in (("hook", hook), ("tg", tg), ("slack", slack))}
    assert code == 0, notifier.log()
    assert levels["hook"] == ["INFO", "WARNING", "CRITICAL", "NONE"]
    assert [t.splitlines()[0] for t in levels["tg"]] == [
        "🟠 BTC WARNING · long cascade", "🔴 BTC CRITICAL · long cascade",
        "✅ BTC back to normal"]
    assert [t.splitlines()[0] for t in levels["slack"]] == ["🔴 BTC CRITICAL · long cascade"]
    (dead,) = read_topic(bootstrap, prefix + DEAD_LETTER_TOPIC, want=1)
    dead = orjson.loads(dead)
    assert dead["source"] == "notifier" and dead["raw"] == "{not an alert"
    assert dead["reason"].startswith("not JSON") and dead["where"].endswith("[0]@2")
    log = notifier.log()
    assert "dead_letters 1" in log and "delivered[hook] 4" in log
    assert TOKEN not in log and "SLACKSECRET" not in log
    ledger = subprocess.run(
        [sys.executable, "-m", "notifier", "--config", str(notifier.config), "--state-dir",
         str(notifier.state), "--ledger"], cwd=REPO_DIR, env=notifier.env, capture_output=True,
        text=True, timeout=60, check=True).stdout.splitlines()
    assert len(ledger) == 4 + 3 + 1
    assert "hook\tBTC:2026-11-20T14:01:00Z:INFO\tsent\t1\t" in ledger


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "terminate"])
def test_restart_mid_delivery_sends_nothing_twice(kafka, tmp_path, sig):
    """A confirms at once; B answers 503 while the process is stopped (killed: a crash;
    terminated: shutdown cuts B's retries short). Neither commits the offset; after the
    restart B is back, gets the alert once, and A does not get it again."""
    bootstrap, prefix = kafka
    value = alert("CRITICAL", "WARNING")
    produce_alerts(bootstrap, prefix + ALERTS_TOPIC, [value])
    patient = {**FAST_RETRY, "max_attempts": 100, "initial_backoff_s": 0.2,
               "max_backoff_s": 0.5, "max_total_s": 600}
    with HttpServer(default=Reply()) as a, HttpServer(default=Reply(503, "down")) as b:
        channels = [
            {"name": "a", "type": "webhook", "url_env": "A", "min_level": "INFO"},
            {"name": "b", "type": "webhook", "url_env": "B", "min_level": "INFO",
             "retry": patient},
        ]
        notifier = NotifierProcess(tmp_path, bootstrap, prefix, channels,
                                   {"A": a.url, "B": b.url})
        notifier.start()
        try:
            wait_for(lambda: ("a", value["alert_id"], "sent") in notifier.ledger()
                     and len(b.requests) >= 2, 90, "A to confirm while B keeps failing")
        finally:
            code = notifier.stop(sig)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0), notifier.log()
        assert committed(bootstrap, prefix) < 0  # not handled by all channels: not committed
        if sig == signal.SIGTERM:
            assert "not committed, the next start resends it" in notifier.log()

        b.fallback = Reply(200, "ok")
        notifier.start()
        try:
            wait_for(lambda: committed(bootstrap, prefix) == 1, 90,
                     "the restarted notifier to deliver to B and commit")
        finally:
            assert notifier.stop() == 0, notifier.log()
        assert len(a.delivered()) == 1, "A got the alert twice"
        assert len(b.delivered()) == 1
        assert b.delivered()[0].headers["idempotency-key"] == value["alert_id"]
    assert "was delivered before the restart, skipped" in notifier.log()
    assert notifier.ledger() == {("a", value["alert_id"], "sent"),
                                 ("b", value["alert_id"], "sent")}

"""SASL on the native broker, end to end: stack/kafka.sh's own server.properties with
KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT, a private broker started from it, and the project's
Kafka clients (lcm.kafka_io, which every side uses) authenticating from the same .env
variables; a wrong password and a client without SASL are refused."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from lcm import kafka_io
from lcm.paths import REPO_DIR
from lcm.settings import KafkaSecurity
from tests.ingest.kafka_broker import OwnKafka

pytestmark = pytest.mark.stack
SASL = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "lcm", "KAFKA_SASL_PASSWORD": "s3cret-for-the-test"}


@pytest.fixture
def sasl_broker(tmp_path: Path) -> Iterator[OwnKafka]:
    broker = OwnKafka(tmp_path / "kafka")  # formats storage in tmp_path/kafka/data
    env = {**os.environ, **SASL, "LCM_STATE_DIR": str(tmp_path),
           "KAFKA_PORT": str(broker.port), "KAFKA_CONTROLLER_PORT": str(broker.controller_port),
           "LCM_BIND": "127.0.0.1", "KAFKA_ADVERTISED_HOST": "127.0.0.1"}
    config = subprocess.run([REPO_DIR / "stack" / "kafka.sh", "config"], env=env,
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert "listeners=SASL_PLAINTEXT://127.0.0.1:" in config
    assert f"log.dirs={tmp_path / 'kafka' / 'data'}" in config
    broker.conf.write_text(config, encoding="utf-8")
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


def test_clients_authenticate_from_the_env(sasl_broker: OwnKafka,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SASL.items():
        monkeypatch.setenv(key, value)
    bootstrap = sasl_broker.bootstrap
    created = kafka_io.ensure_topics(bootstrap, "sasl_", timeout_s=60)
    assert "sasl_prices" in created
    producer = kafka_io.make_producer(bootstrap)
    kafka_io.produce(producer, "sasl_prices", {"exchange": "bybit", "base": "BTC",
                                               "ts": 1795183230000, "price": 1.0})
    assert producer.flush(30) == 0
    del producer
    (record,) = kafka_io.read_topic(bootstrap, "sasl_prices", 1, timeout_s=60)
    assert record.key() == b"bybit:BTC"


@pytest.mark.parametrize("security", [
    KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="lcm",
                  sasl_password="wrong"),
    KafkaSecurity(),  # PLAINTEXT against a SASL listener
], ids=["wrong-password", "no-sasl"])
def test_other_clients_are_refused(sasl_broker: OwnKafka, security: KafkaSecurity) -> None:
    client = AdminClient(kafka_io.client_config(sasl_broker.bootstrap, "admin",
                                                security=security))
    with pytest.raises(KafkaException):
        client.list_topics(timeout=10)

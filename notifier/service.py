"""The consumer loop: read an alert, hand it to every channel that wants it (in parallel),
commit the offset once all of them confirmed or were given up on."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from pydantic import ValidationError

from lcm import kafka_io
from lcm.deadletter import dead_letter_record
from lcm.topics import ALERTS_TOPIC, DEAD_LETTER_TOPIC
from notifier.alert import Alert
from notifier.channels import Sender
from notifier.config import NotifierConfig
from notifier.delivery import Deliverer, Interrupted, Outcome
from notifier.ledger import Ledger
from notifier.message import render
from notifier.redact import Redactor

log = logging.getLogger(__name__)
SOURCE = "notifier"
STATS_EVERY_S = 600.0
RETRY_DEAD_LETTER_S = 5.0


@dataclass
class Stats:
    """What happened since start; logged every 10 minutes and at exit."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing yet"


class Dispatcher:
    """Sends one alert to the channels; knows nothing about Kafka."""

    def __init__(self, config: NotifierConfig, senders: list[Sender], ledger: Ledger,
                 redactor: Redactor, stopping: threading.Event | None = None) -> None:
        self.config = config
        self.grafana_url = config.drill_down_base()  # fails at start, naming the setting
        self.ledger = ledger
        self.stats = Stats()
        self.stopping = stopping or threading.Event()
        self.redactor = redactor
        self.deliverers = {s.name: Deliverer(s, config.policy(s.config), redactor, self.stopping)
                           for s in senders}
        self._pool = ThreadPoolExecutor(max_workers=len(senders), thread_name_prefix="channel")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for d in self.deliverers.values():
            d.close()

    def _send(self, deliverer: Deliverer, alert: Alert, recovery: bool) -> Outcome:
        name = deliverer.sender.name
        try:
            outcome = deliverer.deliver(alert, render(alert, self.grafana_url, recovery))
        except Interrupted:
            raise
        except Exception as exc:  # a poison alert fails this channel, never the notifier
            log.exception("channel %s: alert %s cannot be sent", name, alert.alert_id)
            outcome = Outcome(False, 0, self.redactor(
                f"cannot be sent: {type(exc).__name__}: {str(exc)[:300]}"))
        # Recorded the moment the channel answers: a crash after this line does not resend.
        self.ledger.record(name, alert.alert_id, "sent" if outcome.delivered else "failed",
                           outcome.attempts, outcome.error)
        if outcome.delivered:
            log.info("channel %s: alert %s delivered (%d attempt%s)", name, alert.alert_id,
                     outcome.attempts, "" if outcome.attempts == 1 else "s")
            self.stats.add(f"delivered[{name}]")
        else:
            log.error("channel %s: alert %s NOT delivered after %d attempt(s): %s", name,
                      alert.alert_id, outcome.attempts, outcome.error)
            self.stats.add(f"failed[{name}]")
        return outcome

    def handle(self, alert: Alert) -> dict[str, Outcome | str]:
        """Per channel: its Outcome, or why it was not sent ('below min_level',
        'already sent'). Raises Interrupted when shutdown cut a channel's retries short."""
        self.stats.add("alerts")
        results: dict[str, Outcome | str] = {}
        futures = {}
        for name, deliverer in self.deliverers.items():
            wanted, recovery = deliverer.sender.wants(alert)
            if not wanted:
                results[name] = "below min_level"
                self.stats.add(f"filtered[{name}]")
            elif self.ledger.status(name, alert.alert_id) == "sent":
                results[name] = "already sent"
                self.stats.add(f"already_sent[{name}]")
                log.info("channel %s: alert %s was delivered before the restart, skipped",
                         name, alert.alert_id)
            else:
                futures[name] = self._pool.submit(self._send, deliverer, alert, recovery)
        interrupted = []
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Interrupted:
                interrupted.append(name)
        if interrupted:
            raise Interrupted(", ".join(interrupted))
        return results


def parse_alert(raw: bytes | None) -> Alert:
    """The alert, or ValueError with what is wrong."""
    if raw is None:
        raise ValueError("empty message (no value)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return Alert.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(object)'}: {e['msg']}"
                             for e in exc.errors())
        raise ValueError(f"not an alert: {problems}") from None


class Service:
    def __init__(self, config: NotifierConfig, dispatcher: Dispatcher, bootstrap: str,
                 topic_prefix: str = "") -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.stats = dispatcher.stats
        self.stopping = dispatcher.stopping
        self.topic = topic_prefix + ALERTS_TOPIC
        self.dead_letter_topic = topic_prefix + DEAD_LETTER_TOPIC
        self.group = topic_prefix + config.consumer.group
        conf: dict[str, Any] = {
            "auto.offset.reset": config.consumer.auto_offset_reset,
            # Offsets are committed by hand, after every channel handled the alert.
            "enable.auto.commit": False,
            # The job writes alerts in Kafka transactions (exactly once): read only what a
            # completed checkpoint committed, never an aborted attempt (librdkafka's
            # default too; said here because it is what makes an alert arrive once).
            "isolation.level": "read_committed",
            "session.timeout.ms": config.consumer.session_timeout_s * 1000,
            # An alert's retries may take minutes: do not let the group drop us meanwhile.
            "max.poll.interval.ms": int(max(300_000, 2_000 * max(
                config.policy(d.sender.config).max_total_s
                for d in dispatcher.deliverers.values()) + 60_000)),
        }
        self.consumer = kafka_io.make_consumer(bootstrap, self.group, **conf)
        self.producer = kafka_io.make_producer(bootstrap, **{"linger.ms": 0})

    def _dead_letter(self, msg: Message, reason: str) -> None:
        """A message that is not an alert goes to the dead-letter topic (counted, never
        dropped silently), in the ingest dead-letter shape."""
        raw = msg.value() or b""
        value = dead_letter_record(SOURCE, reason, raw,
                                   f"{msg.topic()}[{msg.partition()}]@{msg.offset()}")
        kafka_io.produce(self.producer, self.dead_letter_topic, value, key=SOURCE.encode())
        if self.producer.flush(30) > 0:
            raise KafkaException(f"dead letter for {value['where']} not acknowledged in 30 s")
        self.stats.add("dead_letters")
        log.error("%s is not an alert (%s): sent to %s", value["where"], reason,
                  self.dead_letter_topic)

    def run(self) -> None:
        """Until stop() (SIGTERM/SIGINT). An alert interrupted by shutdown is not committed."""
        self.consumer.subscribe([self.topic])
        log.info("consuming %s as group %s; channels: %s", self.topic, self.group,
                 ", ".join(self.dispatcher.deliverers))
        next_stats = time.monotonic() + STATS_EVERY_S
        try:
            while not self.stopping.is_set():
                if time.monotonic() >= next_stats:
                    log.info("stats: %s", self.stats.summary())
                    next_stats = time.monotonic() + STATS_EVERY_S
                msg = self.consumer.poll(self.config.consumer.poll_timeout_s)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().fatal():
                        raise KafkaException(msg.error())
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("kafka: %s", msg.error())
                    continue
                try:
                    alert = parse_alert(msg.value())
                except ValueError as exc:
                    try:
                        self._dead_letter(msg, str(exc))
                    except KafkaException as kexc:  # not lost: read again after a pause
                        log.error("dead letter not written (%s); retrying in %.0f s", kexc,
                                  RETRY_DEAD_LETTER_S)
                        self.stopping.wait(RETRY_DEAD_LETTER_S)
                        self.consumer.seek(TopicPartition(msg.topic(), msg.partition(),
                                                          msg.offset()))
                        continue
                else:
                    try:
                        self.dispatcher.handle(alert)
                    except Interrupted as exc:
                        log.warning("shutdown while %s still retried alert %s: not committed,"
                                    " the next start resends it there", exc, alert.alert_id)
                        break
                try:
                    self.consumer.commit(message=msg, asynchronous=False)
                except KafkaException as exc:  # e.g. the partition moved to another member
                    log.warning("commit of %s[%d]@%d failed (%s): it may be read again; the"
                                " ledger keeps channels from getting it twice", msg.topic(),
                                msg.partition(), msg.offset(), exc)
        finally:
            log.info("stopping; stats: %s", self.stats.summary())
            self.consumer.close()
            self.producer.flush(10)

    def stop(self) -> None:
        self.stopping.set()

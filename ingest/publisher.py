"""Publisher: every normalized message to Kafka, in order, none lost, none duplicated,
through an on-disk spool when Kafka is unreachable.

Path of a message: publish() appends it to the spool (ingest/spool.py) and returns; a
sender thread reads the spool in order and hands at most `in_flight` records to an
idempotent confluent-kafka producer (acks=all, key "<exchange>:<base>", record timestamp
= ts via kafka_io), and moves the spool cursor past each record once its delivery report
says the broker has it. The producer never times a message out (message.timeout.ms=0),
so while the broker is down librdkafka keeps retrying the records it holds, in order, and
the rest wait on disk; when the broker returns they drain in spool order.

Guarantees (docs/sources.md, "Delivery guarantee"):
- While the process runs, every published message reaches Kafka exactly once and in
  publish order per partition, however long the broker is away: librdkafka's idempotent
  producer de-duplicates its own retries and keeps order; nothing is re-sent by us unless
  the producer reports a fatal error, in which case a new producer resends exactly the
  records whose delivery was not acknowledged (a record the broker was writing at that
  very moment can then arrive twice).
- A message is on disk (page cache) when publish() returns, so a process crash loses
  nothing; an OS crash or power loss can lose the last `fsync_ms` of appends.
- After a crash, records appended but not acknowledged are sent on the next start, except
  those the broker already has: every record carries the header `lcm-spool: <origin>:<seq>`,
  and before sending, the sender reads back what was written since the last saved
  acknowledgement (ingest/readback.py). Exactly once across a crash too.
- A record the broker rejects for good (too large, not authorized) is appended to
  <spool>/rejected.jsonl with the error and counted, never dropped silently.
Heartbeats, health records and dead letters go through the same spool, so the job's clock
never runs ahead of spooled data.
"""

from __future__ import annotations

import base64
import collections
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ingest.health import SourceHealth
from ingest.readback import SentState, already_in_kafka
from ingest.spool import Record, Spool, SpoolRefused
from lcm import kafka_io
from lcm.deadletter import dead_letter_record
from lcm.topics import DEAD_LETTER_TOPIC, HEALTH_TOPIC

log = logging.getLogger("ingest.publisher")
COMMIT_EVERY_S = 0.1
SPOOL_SOURCE = "spool"  # the spool's own ingest_health record: spool:<process>


def record_ts(msg: dict[str, Any]) -> int:
    ts = msg.get("ts")
    return ts if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 else 0


class Publisher:
    """The Kafka Sink (ingest.sink.Sink)."""

    def __init__(self, bootstrap: str, spool_dir: Path, *, topic_prefix: str = "",
                 segment_bytes: int = 16 * 1024 * 1024, max_bytes: int = 4 * 1024**3,
                 in_flight: int = 20_000, fsync_ms: int = 200,
                 producer_factory: Callable[[], Producer] | None = None,
                 **producer_overrides: Any) -> None:
        self.topic_prefix = topic_prefix
        self.bootstrap = bootstrap
        self.spool = Spool(spool_dir, segment_bytes=segment_bytes, max_bytes=max_bytes,
                           fsync_ms=fsync_ms)
        self.spool_health = SourceHealth(f"{SPOOL_SOURCE}:{Path(spool_dir).name}", running=True)
        self._damage_seen = 0
        self._delivered_at: float | None = None
        self.in_flight = in_flight
        conf = {"message.timeout.ms": 0,  # never give up on a record: the spool holds order
                "error_cb": self._on_client_error, **producer_overrides}
        self._factory = producer_factory or partial(kafka_io.make_producer, bootstrap, **conf)
        self.producer: Producer | None = self._factory()
        self.published = 0
        self.delivered = 0
        self.rejected = 0
        self.rebuilds = 0
        self.broker_up: bool | None = None
        self.last_client_error: str | None = None
        self._pending: collections.deque[int] = collections.deque()  # sent, in seq order
        # acknowledged seq -> (topic, partition, offset); None for a record Kafka refused
        self._acked: dict[int, tuple[str, int, int] | None] = {}
        self.sent = SentState.load(self.spool.dir)
        self._offsets_seen = False  # offsets acknowledged below the cursor, not yet saved
        # Records a previous process may have handed to Kafka: checked before sending.
        self._resume_below = (min(self.sent.sent_below, self.spool.next_seq)
                              if self.sent.found else self.spool.cursor)
        self.resent_skipped = 0
        self._rebuild = False
        self._skip: set[int] = set()  # acknowledged before a rebuild: not sent again
        self._stop = threading.Event()
        self._cursor_at = time.monotonic()
        # Partitions per clock topic, as the broker has them (refreshed by the sender).
        self.clock_partitions: dict[str, int] = {}
        self._counts_at = 0.0
        self._thread = threading.Thread(target=self._run, name="spool-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ API
    def publish(self, topic: str, msg: dict[str, Any], *, key: bytes | None = None,
                partition: int = -1) -> None:
        """Queue one message for its topic (the prefix is added here)."""
        if key is None:
            key = kafka_io.message_key(topic, msg)
        try:
            self.spool.append(self.topic_prefix + topic, key, record_ts(msg), partition,
                              orjson.dumps(msg))
        except SpoolRefused as exc:
            self.spool_health.error(str(exc))
            raise
        self.published += 1

    def dead_letter(self, source: str, reason: str, raw: str, where: str) -> None:
        """An upstream payload that could not be normalized (ingest.sink)."""
        record = dead_letter_record(source, reason, raw, where)
        self.publish(DEAD_LETTER_TOPIC, record, key=record["source"].encode())

    def heartbeat(self, source: str, ts: int) -> None:
        """The job's clock, to every partition of the heartbeat and data topics, behind any
        spooled data (so it never vouches for records still waiting in the spool)."""
        for beat in kafka_io.heartbeat_records(source, ts, self.clock_partitions):
            self.publish(beat.topic, beat.value, key=beat.key, partition=beat.partition)

    def health(self, record: dict[str, Any]) -> None:
        self.publish(HEALTH_TOPIC, record, key=str(record["source"]).encode())

    @property
    def backlog(self) -> int:
        """Messages published but not yet acknowledged by Kafka."""
        return self.spool.backlog

    def flush(self, timeout_s: float = 30) -> bool:
        """Wait until Kafka acknowledged everything published so far; False on timeout."""
        deadline = time.monotonic() + timeout_s
        target = self.spool.next_seq
        while self.spool.cursor < target and self._thread.is_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return self.spool.cursor >= target

    def close(self, timeout_s: float = 30) -> None:
        """Deliver what Kafka takes within timeout_s; the rest stays spooled for next time
        (and is purged from the Kafka client, which would otherwise still send it)."""
        self.flush(timeout_s)
        self._stop.set()
        self._thread.join(timeout=timeout_s + 5)
        self.spool.close()

    def own_health(self) -> list[SourceHealth]:
        """The spool as a source of ingest_health: messages = delivered to Kafka, errors =
        refused appends and damage found, dead_letters = records lost to damage or
        rejected by Kafka; stale (then down) while a backlog waits for Kafka."""
        h = self.spool_health
        for damage in self.spool.damage[self._damage_seen:]:
            h.error(f"spool: {damage.what}")
            h.dead_letters += damage.lost
        self._damage_seen = len(self.spool.damage)
        h.messages = self.delivered
        h.running = self._thread.is_alive()
        now = time.time()
        h.last_event_at = now if self.backlog == 0 else (self._delivered_at or h.started_at)
        return [h]

    def stats(self) -> dict[str, Any]:
        return {"published": self.published, "delivered": self.delivered,
                "backlog": self.backlog, "rejected": self.rejected, "rebuilds": self.rebuilds,
                "broker_up": self.broker_up}

    # ------------------------------------------------------------ sender thread
    def _on_client_error(self, err: KafkaError) -> None:
        self.last_client_error = err.str()
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            if self.broker_up is not False:
                log.warning("Kafka unreachable (%s); spooling to %s", err.str(), self.spool.dir)
            self.broker_up = False

    def _on_delivery(self, rec: Record, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self._acked[rec.seq] = (msg.topic(), msg.partition(), msg.offset())
            self.delivered += 1
            self._delivered_at = time.time()
            if self.broker_up is not True:
                if self.broker_up is False:
                    log.info("Kafka reachable again; draining %d spooled", self.backlog)
                self.broker_up = True
            return
        permanent = not (err.retriable() or err.fatal() or err.code() in (
            KafkaError._MSG_TIMED_OUT, KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT,
            KafkaError._TIMED_OUT, KafkaError._TRANSPORT))
        if permanent:
            self._reject(rec, err)
            self._acked[rec.seq] = None
        else:
            self._rebuild = True  # resend what is not acknowledged, with a fresh producer

    def _reject(self, rec: Record, err: KafkaError) -> None:
        self.rejected += 1
        self.spool_health.dead_letters += 1
        self.spool_health.error(f"Kafka rejected a record on {rec.topic}: {err.str()}")
        log.error("Kafka rejected a record on %s for good: %s (kept in rejected.jsonl)",
                  rec.topic, err.str())
        line = orjson.dumps({"topic": rec.topic, "key": rec.key.decode("utf-8", "replace")
                             if rec.key is not None else None, "ts": rec.ts,
                             "error": err.str(), "seq": rec.seq,
                             "value_b64": base64.b64encode(rec.value).decode()})
        try:
            with (self.spool.dir / "rejected.jsonl").open("ab") as fh:
                fh.write(line + b"\n")
        except OSError as exc:  # a full disk: the record is still named in the log
            log.error("rejected record seq %d on %s not written to rejected.jsonl (%s): %s",
                      rec.seq, rec.topic, exc, line[:2000].decode("utf-8", "replace"))

    def _advance(self) -> None:
        while self._pending and self._pending[0] in self._acked:
            where = self._acked.pop(self._pending.popleft())
            if where is not None:
                self.sent.offsets[f"{where[0]}:{where[1]}"] = where[2]
                self._offsets_seen = True
        cursor = self._pending[0] if self._pending else self.spool.read_position
        now = time.monotonic()
        if cursor > self.spool.cursor and now - self._cursor_at >= COMMIT_EVERY_S:
            # the cursor first: offsets saved behind it are only ever too early (a longer
            # read-back after a crash), never past a record that was not acknowledged
            if self.spool.commit(cursor) and self._offsets_seen:
                self._offsets_seen = not self.sent.save()
            self._cursor_at = now

    def _do_rebuild(self) -> None:
        """A fatal producer error: drop the producer, resend every unacknowledged record in
        order with a new one (records acknowledged meanwhile are skipped)."""
        self.rebuilds += 1
        log.warning("producer failed (%s); resending %d unacknowledged records",
                    self.last_client_error, len(self._pending))
        old = self.producer
        old.purge()
        old.poll(0)
        self.producer = self._factory()
        self._advance()
        acked = set(self._acked)
        start = self._pending[0] if self._pending else self.spool.read_position
        self._pending.clear()
        self._acked.clear()
        self.spool.rewind(start)
        self._skip = acked
        self._rebuild = False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # never let the sender die: log and keep the records spooled
                log.exception("spool sender error; retrying in 1 s")
                time.sleep(1)
        self.producer.poll(0)
        self._advance()
        if not self._pending:
            self.spool.commit(self.spool.read_position)
        # Records the client still holds stay in the spool for the next start; the client
        # must not deliver them later behind our back (that would be a duplicate).
        self.producer.purge()
        self.producer.poll(0)
        # Release the client now: its callbacks refer back to this object, a cycle that
        # would keep its threads (and their reconnect attempts) alive until a collection.
        self.producer = None

    def _refresh_partitions(self) -> None:
        """Heartbeats go to every partition a topic has on the broker, which may be more than
        lcm/topics.txt says (a widened topic); looked up every 30 s while Kafka is up."""
        now = time.monotonic()
        if self.broker_up and now - self._counts_at >= kafka_io.PARTITION_COUNTS_TTL_S:
            self._counts_at = now
            self.clock_partitions = kafka_io.partition_counts(self.producer, self.topic_prefix)

    def _read_back(self) -> bool:
        """Before the first send after a restart: skip what the last process's producer
        had already delivered (ingest/readback.py). False while the broker cannot say."""
        start = self.spool.cursor
        tail = self.spool.read(self._resume_below - start)
        self.spool.rewind(start)
        consumer = kafka_io.make_consumer(self.bootstrap, f"lcm-spool-{self.sent.origin}",
                                          **{"enable.auto.commit": False})
        try:
            found = already_in_kafka(consumer, self.sent, tail)
        except (KafkaException, TimeoutError) as exc:
            log.info("cannot read back what Kafka already has yet (%s); retrying", exc)
            return False
        finally:
            consumer.close()
        self._skip |= found
        self.resent_skipped += len(found)
        self._resume_below = start
        return True

    def _step(self) -> None:
        if self._rebuild:
            self._do_rebuild()
        if self._resume_below > self.spool.cursor and not self._read_back():
            self._stop.wait(1)
            return
        self._refresh_partitions()
        room = self.in_flight - len(self._pending)
        records = self.spool.read(min(room, 10_000)) if room > 0 else []
        if records and records[-1].seq >= self.sent.sent_below:
            # said before sent: a crash leaves no record handed to Kafka at or above it
            self.sent.sent_below = records[-1].seq + 1 + self.in_flight
            self.sent.save()
        for rec in records:
            if rec.seq in self._skip:
                self._skip.discard(rec.seq)
                continue
            self._pending.append(rec.seq)
            kafka_io.produce_bytes(self.producer, rec.topic, rec.value, key=rec.key,
                                   timestamp=rec.ts, partition=rec.partition,
                                   headers=self.sent.header(rec.seq),
                                   on_delivery=partial(self._on_delivery, rec))
        self.producer.poll(0 if records else 0.02)
        self._advance()
        self.spool.sync_if_due()
        if not records and not self._pending:
            self.spool.wait_for_data(0.05)

"""Kafka plumbing shared by every side: client factories (with librdkafka's logs in Python
logging), topic admin, and the one way messages are keyed, stamped and read back.

One place decides how messages are keyed and stamped, so replay, recorder and live
sources all write records the Flink job reads the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from lcm.settings import ConfigError, KafkaSecurity, environment
from lcm.topics import DATA_TOPICS, HEARTBEAT_TOPIC, TOPICS

# The key of heartbeats on the data topics. Never a message key (those are
# "<venue>:<base>", with a colon): the job drops records with it after their timestamp has
# moved the partition's watermark (sql/flink/10_source_topic.sql).
HEARTBEAT_KEY = b"heartbeat"
# Topics whose every partition gets each heartbeat: the job's event-time clock.
CLOCK_TOPICS = (HEARTBEAT_TOPIC, *DATA_TOPICS)
PARTITION_COUNTS_TTL_S = 30.0


def client_config(bootstrap: str, kind: str, *, security: KafkaSecurity | None = None,
                  **overrides: Any) -> dict[str, Any]:
    """Settings every Kafka client of the project starts from: the bootstrap servers, the
    security settings (SASL, TLS) of .env or the environment (lcm.settings.KafkaSecurity,
    the one place they are read), and librdkafka's own log lines (connection refused,
    broker down, ...) through Python logging as `kafka.<kind>`, not raw to stderr; they
    are delivered whenever the client is polled."""
    security = security if security is not None else KafkaSecurity.from_env()
    return {"bootstrap.servers": bootstrap, **security.librdkafka(),
            "logger": logging.getLogger(f"kafka.{kind}"), **overrides}


def make_admin(bootstrap: str, **overrides: Any) -> AdminClient:
    return AdminClient(client_config(bootstrap, "admin", **overrides))


def make_consumer(bootstrap: str, group: str, **overrides: Any) -> Consumer:
    """A consumer in `group`; close() it when done (it leaves the group)."""
    return Consumer(client_config(bootstrap, "consumer", **{"group.id": group, **overrides}))


def ensure_topics(bootstrap: str, prefix: str = "", timeout_s: float = 30) -> list[str]:
    """Create the missing topics; return the names created. Safe to run any number of times."""
    admin = make_admin(bootstrap)
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise SystemExit(
            f"Kafka at {bootstrap} is unreachable ({exc}); start it with 'make up'."
        ) from None
    wanted = {prefix + name: parts for name, parts in TOPICS.items()}
    new = [NewTopic(t, num_partitions=p, replication_factor=replication_factor())
           for t, p in wanted.items() if t not in existing]
    for fut in admin.create_topics(new).values() if new else []:
        try:
            fut.result(timeout=timeout_s)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    # A topic that lcm/topics.txt now wants wider (the job's parallelism grew) is widened.
    grow = [NewPartitions(t, wanted[t]) for t, meta in existing.items()
            if t in wanted and len(meta.partitions) < wanted[t]]
    for fut in admin.create_partitions(grow).values() if grow else []:
        fut.result(timeout=timeout_s)
    return [t.topic for t in new]


def replication_factor() -> int:
    """Replicas of each topic the project creates: $KAFKA_REPLICATION_FACTOR (.env), 1 on
    the single-broker local stacks; a cluster of three or more brokers wants 3."""
    value = environment().get("KAFKA_REPLICATION_FACTOR") or "1"
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"KAFKA_REPLICATION_FACTOR must be a positive whole number, "
                          f"got {value!r}")
    return int(value)


def delete_topics(bootstrap: str, names: Iterable[str], timeout_s: float = 30) -> None:
    admin = make_admin(bootstrap)
    futures = admin.delete_topics(list(names))
    for fut in futures.values():
        try:
            fut.result(timeout=timeout_s)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" not in str(exc):
                raise


def delete_consumer_groups(bootstrap: str, groups: Iterable[str],
                           timeout_s: float = 30) -> None:
    """Delete consumer groups (a group never created, or already gone, is fine)."""
    groups = list(groups)
    if not groups:
        return
    admin = make_admin(bootstrap)
    for fut in admin.delete_consumer_groups(groups, request_timeout=timeout_s).values():
        try:
            fut.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise


def consumer_groups(bootstrap: str, prefix: str = "", timeout_s: float = 30) -> list[str]:
    """Ids of the broker's consumer groups that start with `prefix`."""
    admin = make_admin(bootstrap)
    result = admin.list_consumer_groups(request_timeout=timeout_s).result(timeout=timeout_s)
    return sorted(g.group_id for g in result.valid if g.group_id.startswith(prefix))


def read_topic(bootstrap: str, topic: str | Iterable[str], want: int, *,
               timeout_s: float = 60, linger_s: float = 0.0,
               keep: Callable[[Message], bool] | None = None,
               clock: bool = False) -> list[Message]:
    """The records of `topic` (or of several topics) from the start, every partition,
    until `want` were read or
    timeout_s passed, then linger_s longer (where a duplicate would show). No consumer group
    is joined or committed, so nothing is left on the broker. A topic that does not exist
    yet is waited for (within timeout_s). `keep` filters records (those it rejects do not
    count). Heartbeats on a data topic (key 'heartbeat') are the job's clock, not data:
    skipped, as every reader of a data topic skips them, unless clock=True."""
    consumer = make_consumer(bootstrap, f"read-{time.time_ns()}",
                             **{"enable.auto.commit": False, "enable.partition.eof": False,
                                "isolation.level": "read_committed"})
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        waiting = [topic] if isinstance(topic, str) else list(topic)
        assigned: list[TopicPartition] = []
        while waiting:
            meta = consumer.list_topics(timeout=10).topics
            ready = [t for t in waiting if t in meta and meta[t].partitions]
            assigned += [TopicPartition(t, p, OFFSET_BEGINNING) for t in ready
                         for p in meta[t].partitions]
            waiting = [t for t in waiting if t not in ready]
            if waiting and time.monotonic() >= deadline:
                return out
            if waiting:
                time.sleep(0.2)
        consumer.assign(assigned)
        end = None
        while True:
            now = time.monotonic()
            if end is None and (len(out) >= want or now >= deadline):
                end = now + linger_s
            if end is not None and now >= end:
                return out
            out.extend(m for m in consumer.consume(1000, 0.2)
                       if m.error() is None and (clock or not is_heartbeat(m.key()))
                       and (keep is None or keep(m)))
    finally:
        consumer.close()


def make_producer(bootstrap: str, **overrides: Any) -> Producer:
    """Idempotent producer (acks=all, no duplicates on retry), batched for throughput."""
    conf = client_config(bootstrap, "producer", **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
    })
    conf.update(overrides)
    return Producer(conf)


# Replay only counts failed deliveries: reports for successful ones are wasted work.
REPLAY_PRODUCER = {"delivery.report.only.error": True}


def produce(
    producer: Producer,
    topic: str,
    value: dict[str, Any],
    *,
    key: bytes | None = None,
    on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    partition: int = -1,
) -> None:
    """Send one message the way the Flink job expects it: JSON, keyed `<venue>:<base>`,
    and stamped with its own `ts` as the Kafka record timestamp (the job's event time).
    A full local queue waits for the broker instead of failing."""
    ts = value.get("ts")
    stamp = ts if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0 else 0
    produce_bytes(producer, topic, orjson.dumps(value),
                  key=key if key is not None else message_key(topic, value), timestamp=stamp,
                  on_delivery=on_delivery, partition=partition)


def produce_bytes(
    producer: Producer,
    topic: str,
    payload: bytes,
    *,
    key: bytes | None,
    timestamp: int,
    on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    partition: int = -1,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """produce() for a value already serialized (the spool keeps the JSON bytes)."""
    while True:
        try:
            producer.produce(topic, payload, key, on_delivery=on_delivery, timestamp=timestamp,
                             partition=partition, headers=headers)
            return
        except BufferError:
            producer.poll(0.05)


def poll_until(producer: Producer, deadline: float) -> None:
    """Serve delivery callbacks until time.monotonic() reaches deadline. (poll(timeout)
    alone returns as soon as it served a callback, so it cannot pace a replay.)"""
    while (left := deadline - time.monotonic()) > 0:
        producer.poll(min(left, 0.1))


class Beat(NamedTuple):
    """One record of a heartbeat."""

    topic: str
    partition: int
    key: bytes
    value: dict[str, Any]


def partition_counts(client: Producer | Consumer | AdminClient, prefix: str = "",
                     timeout_s: float = 5) -> dict[str, int]:
    """Partitions of each clock topic as the broker has them (a topic widened beyond
    lcm/topics.txt included); lcm/topics.txt's counts for a topic the broker does not
    answer for."""
    counts = {t: TOPICS[t] for t in CLOCK_TOPICS}
    try:
        meta = client.list_topics(timeout=timeout_s).topics
    except KafkaException:
        return counts
    for t in CLOCK_TOPICS:
        found = meta.get(prefix + t)
        if found is not None and found.partitions:
            counts[t] = len(found.partitions)
    return counts


_counts: dict[tuple[int, str], tuple[float, dict[str, int]]] = {}


def heartbeat(producer: Producer, source: str, ts: int, *, topic_prefix: str = "",
              on_delivery: Callable[[KafkaError | None, Message], None] | None = None) -> None:
    """The job's clock: one heartbeat to every partition of the heartbeat topic and of every
    data topic (docs/operations.md). Partition counts come from the broker (cached)."""
    key = (id(producer), topic_prefix)
    at, counts = _counts.get(key, (0.0, {}))
    if time.monotonic() - at > PARTITION_COUNTS_TTL_S:
        counts = partition_counts(producer, topic_prefix)
        _counts[key] = (time.monotonic(), counts)
    for beat in heartbeat_records(source, ts, counts):
        produce(producer, topic_prefix + beat.topic, beat.value, key=beat.key,
                on_delivery=on_delivery, partition=beat.partition)


def heartbeat_records(source: str, ts: int,
                      partitions: Mapping[str, int] | None = None) -> list[Beat]:
    """The records of one heartbeat: the same value to every partition of every clock
    topic. Each Flink source subtask and each partition must see time move: the job counts
    no partition as idle, so one without heartbeats would hold every window back, and with
    them no partition is ever skipped while it still holds unread records (a Kafka outage).
    `partitions`: counts per topic (default lcm/topics.txt's)."""
    counts = {t: TOPICS[t] for t in CLOCK_TOPICS} | dict(partitions or {})
    value = {"source": source, "ts": ts, "ingest_ts": int(time.time() * 1000)}
    return [Beat(topic, partition, source.encode() if topic == HEARTBEAT_TOPIC
                 else HEARTBEAT_KEY, value)
            for topic in CLOCK_TOPICS for partition in range(counts[topic])]


def is_heartbeat(key: bytes | None) -> bool:
    """A heartbeat record on a data topic (readers of data topics skip these)."""
    return key == HEARTBEAT_KEY


def message_key(topic: str, value: dict[str, Any]) -> bytes:
    """`<exchange>:<base>` (or `<chain>:<base>` for flows): one asset's events stay in order."""
    venue = value.get("exchange") or value.get("chain") or "unknown"
    return f"{venue}:{value.get('base', '')}".encode()

"""Replay a recorded JSONL file into the Kafka topics: in real time, N times faster, or
as fast as the broker takes it.

Each line is an envelope {"topic": "<topic>", "value": {<message>}} (docs/contract.md)
(plain or .gz). Lines that are not such an envelope go to the dead-letter topic with the
file, line number, reason and raw text, and are counted; they never stop the replay.
Heartbeats carrying the replay clock keep the Flink job's event time moving, and a final
one closes the last minute.
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from confluent_kafka import KafkaError, Producer
from tqdm import tqdm

from lcm import kafka_io
from lcm.kafka_io import poll_until, produce
from lcm.topics import DATA_TOPICS, DEAD_LETTER_TOPIC

DATA_TOPICS = frozenset(DATA_TOPICS)
HEARTBEAT_EVERY_MS = 5_000
# Serve delivery callbacks every this many lines, not every line (a full queue is served
# in produce() anyway): measured +15 % replay throughput (bench/ingest.py).
POLL_EVERY = 500


@dataclass
class ReplayStats:
    sent: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    delivery_errors: int = 0
    heartbeats: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def open_lines(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def count_lines(path: Path) -> int:
    with open_lines(path) as fh:
        return sum(1 for _ in fh)


def parse_envelope(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(topic, value) or ValueError naming what is wrong with the line."""
    try:
        env = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(env, dict):
        raise ValueError("not a JSON object")
    topic, value = env.get("topic"), env.get("value")
    if topic not in DATA_TOPICS:
        raise ValueError(f"topic: {topic!r} is not one of {sorted(DATA_TOPICS)}")
    if not isinstance(value, dict):
        raise ValueError("value: missing or not an object")
    return topic, value


def first_ts(path: Path) -> int:
    with open_lines(path) as fh:
        for raw in fh:
            try:
                _, value = parse_envelope(raw)
            except ValueError:
                continue
            if isinstance(value.get("ts"), int):
                return value["ts"]
    raise ValueError(f"{path}: no line with an integer ts")


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open_lines(path) as fh:
        for n, raw in enumerate(fh, 1):
            if raw.strip():
                yield n, raw


def replay(
    path: Path,
    producer: Producer,
    *,
    speed: float | None = None,
    topic_prefix: str = "",
    shift_ms: int = 0,
    progress: bool = True,
    close_after_ms: int | None = 70_000,
) -> ReplayStats:
    """Send every line of `path`. speed=None: as fast as possible; else event time x speed.

    close_after_ms: a last heartbeat this far past the last event closes the final window
    (one window plus the job's watermark delay); None sends none.
    """
    stats = ReplayStats()
    started = time.monotonic()
    next_beat: int | None = None

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            stats.delivery_errors += 1

    def heartbeat(ts: int) -> None:
        kafka_io.heartbeat(producer, "replay", ts, topic_prefix=topic_prefix,
                           on_delivery=on_delivery)
        stats.heartbeats += 1

    bar = tqdm(total=count_lines(path) if progress else None, disable=not progress,
               unit="msg", unit_scale=True, desc=f"replay {path.name}")
    for n, raw in iter_lines(path):
        bar.update()
        try:
            topic, value = parse_envelope(raw)
        except ValueError as exc:
            stats.dead_letters += 1
            produce(producer, topic_prefix + DEAD_LETTER_TOPIC, {
                "source": "replay", "file": str(path), "line": n, "reason": str(exc),
                "raw": raw.decode("utf-8", "replace").rstrip("\n"),
                "ingest_ts": int(time.time() * 1000)}, key=b"replay", on_delivery=on_delivery)
            continue
        ts = value.get("ts")
        if isinstance(ts, int) and not isinstance(ts, bool):
            if shift_ms:
                ts = value["ts"] = ts + shift_ms
                if isinstance(value.get("ingest_ts"), int):
                    value["ingest_ts"] += shift_ms
            if stats.first_ts is None:
                stats.first_ts = ts
            if speed:  # wait until this event's moment on the accelerated clock
                poll_until(producer, started + (ts - stats.first_ts) / 1000 / speed)
            if next_beat is None or ts >= next_beat:
                heartbeat(ts)
                next_beat = ts - ts % HEARTBEAT_EVERY_MS + HEARTBEAT_EVERY_MS
            stats.last_ts = max(stats.last_ts or ts, ts)
        # else: no usable ts; the job dead-letters the record (it gets the broker's time)
        produce(producer, topic_prefix + topic, value, on_delivery=on_delivery)
        stats.sent[topic] += 1
        if not n % POLL_EVERY:
            producer.poll(0)
    bar.close()
    if close_after_ms is not None and stats.last_ts is not None:
        heartbeat(stats.last_ts + close_after_ms)
    remaining = producer.flush(60)
    stats.delivery_errors += remaining
    stats.seconds = time.monotonic() - started
    return stats
